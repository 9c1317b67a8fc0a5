# SPDX-License-Identifier: Apache-2.0
"""
pip install path for the ROS-free parts (training, export, offline evaluation).

On a GPU workstation without ROS: `pip install .[train,report]` gives the `acnn` command
(synthetic data, train, eval-checkpoint, export, eval-recording, compare). The ROS build is
ament_cmake (CMakeLists.txt), which generates the messages; never put a pip-installed acnn_ros
and the colcon-installed one on the same sys.path (only the colcon one has acnn_ros.msg).

Dependencies are ranges that resolve on Python 3.10 (Humble, JetPack 6) to 3.12 (Jazzy);
the development venv pins exact versions in requirements.txt. install_requires is what the
nodes import; the extras add what only some commands or line set-ups need.
"""
from setuptools import find_packages, setup

setup(
    name='acnn_ros',
    version='0.1.0',
    description='A-CNN automated optical inspection of small objects (ROS 2 package core)',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(include=['acnn_ros', 'acnn_ros.*']),
    # `acnn label`'s page (one HTML file, inline JS/CSS); CMakeLists.txt installs it with the
    # package folder.
    package_data={'acnn_ros.offline': ['label_page.html'],
                  'acnn_ros.core.hmi': ['hmi_page.html']},
    install_requires=[
        'numpy>=1.24,<3',
        'opencv-python-headless>=4.8,<6',
        'PyYAML>=5.4,<7',
        # 1.29+ Linux wheels carry usage telemetry (docs/ENVIRONMENT.md).
        'onnxruntime>=1.18,<1.29',
        'pymodbus>=3.16.1,<3.17',
        'rosbags>=0.10,<0.12',
        'rosbags-image>=0.10,<0.11',
        # hmi_node: the operator's page and the shift database (SQLite).
        'aiohttp>=3.9,<4',
        'SQLAlchemy>=2.0,<2.2',
    ],
    extras_require={
        # acnn synth / train / evaluate / export; pick the CUDA build of torch yourself.
        # matplotlib + Pillow: `acnn synth --backgrounds` prints codes in matplotlib's fonts.
        'train': ['torch>=2.1,<3', 'onnx>=1.16,<2', 'tqdm>=4.66,<5', 'matplotlib>=3.8,<4',
                  'pillow>=9.1,<14'],
        # acnn eval-recording / compare reports (plots, progress bars).
        'report': ['matplotlib>=3.8,<4', 'tqdm>=4.66,<5'],
        # reject_actuator_node with `actuator: opcua`; vision_system_node (its certificate:
        # cryptography, which asyncua needs too).
        'opcua': ['asyncua>=1.1,<3', 'cryptography>=42,<51'],
        # reject_actuator_node with `actuator: gpio` (untested).
        'gpio': ['gpiod>=2.1,<3'],
        # hmi_node with a plant PostgreSQL shift database.
        'postgresql': ['psycopg[binary]>=3.1,<4'],
    },
    entry_points={
        'console_scripts': ['acnn = acnn_ros.cli:main'],
    },
)
