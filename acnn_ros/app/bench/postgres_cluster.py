# SPDX-License-Identifier: Apache-2.0
"""
A throw-away PostgreSQL cluster on 127.0.0.1 (tests, benchmarks): initdb, pg_ctl, stop, remove.

Debian's PostgreSQL server binaries (apt: postgresql; scripts/setup.sh installs it as root).
initdb refuses to run as root: as root the cluster belongs to the `postgres` user. Trust
authentication on loopback only, a free port, its socket in the cluster's own folder.
"""
import glob
import os
from pathlib import Path
import shutil
import socket
import subprocess
import tempfile

INSTALL_HINT = ('PostgreSQL server binaries not found: as root `apt-get install -y postgresql` '
                '(./scripts/setup.sh does this when run as root)')
USER = 'acnn'


def server_bin_dir():
    """Return the folder of initdb / pg_ctl (Debian's versioned folder first), or None."""
    for folder in sorted(glob.glob('/usr/lib/postgresql/*/bin'), reverse=True):
        if os.path.exists(os.path.join(folder, 'pg_ctl')):
            return folder
    found = shutil.which('pg_ctl')
    return os.path.dirname(found) if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


class PostgresCluster:
    """One cluster in a temporary folder; `url` is its SQLAlchemy-free postgresql:// URL."""

    def __init__(self):
        self.bin_dir = server_bin_dir()
        if self.bin_dir is None:
            raise FileNotFoundError(INSTALL_HINT)
        self.dir = Path(tempfile.mkdtemp(prefix='acnn_pg_'))
        self.port = _free_port()
        self.url = f'postgresql://{USER}@127.0.0.1:{self.port}/postgres'
        self._as_user = ['runuser', '-u', 'postgres', '--'] if os.geteuid() == 0 else []
        if self._as_user:
            shutil.chown(self.dir, 'postgres', 'postgres')

    def _run(self, *args) -> None:
        subprocess.run(self._as_user + [os.path.join(self.bin_dir, args[0])] + list(args[1:]),
                       check=True, stdout=subprocess.DEVNULL, timeout=120)

    def start(self) -> 'PostgresCluster':
        """Create the cluster and start its server (waits until it accepts connections)."""
        data = self.dir / 'data'
        self._run('initdb', '-D', str(data), '-A', 'trust', '-U', USER, '--no-sync')
        options = (f'-k {self.dir} -p {self.port} -c listen_addresses=127.0.0.1 '
                   '-c fsync=off -c max_connections=40')
        self._run('pg_ctl', '-D', str(data), '-o', options, '-l', str(self.dir / 'log'),
                  '-w', 'start')
        return self

    def stop(self) -> None:
        """Stop the server and remove the cluster."""
        try:
            self._run('pg_ctl', '-D', str(self.dir / 'data'), '-m', 'fast', '-w', 'stop')
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
