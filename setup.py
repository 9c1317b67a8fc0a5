# SPDX-License-Identifier: Apache-2.0
"""
pip install path for the ROS-free parts (training, export, offline evaluation).

On a GPU workstation without ROS: `pip install .[train]` gives the `acnn` command (synthetic
data, train, evaluate, export, eval-bag). The ROS build is ament_cmake (CMakeLists.txt), which
generates the messages; never put a pip-installed acnn_ros and the colcon-installed one on the
same sys.path (only the colcon one has acnn_ros.msg).
"""
from setuptools import find_packages, setup

setup(
    name='acnn_ros',
    version='0.1.0',
    description='A-CNN automated optical inspection of small objects (ROS 2 package core)',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(include=['acnn_ros', 'acnn_ros.*']),
    install_requires=[
        'numpy>=1.26,<3',
        'opencv-python-headless>=4.9',
        'onnxruntime>=1.18',
        'PyYAML>=6',
        'tqdm>=4.66',
        'matplotlib>=3.8',
        'rosbags>=0.10',
        'rosbags-image>=0.10',
        'pymodbus==3.16.1',
    ],
    extras_require={
        # Pin torch to the version the project is tested with; pick the CUDA build yourself.
        'train': ['torch==2.13.0', 'onnx>=1.16'],
    },
    entry_points={
        'console_scripts': ['acnn = acnn_ros.cli:main'],
    },
)
