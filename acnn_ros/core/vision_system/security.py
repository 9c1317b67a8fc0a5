# SPDX-License-Identifier: Apache-2.0
"""
Security of the vision system server: endpoints, certificate, users.

security_mode none: one endpoint without message security (the demo's loopback default);
sign / sign_encrypt: Basic256Sha256 Sign or SignAndEncrypt only, with a self-signed
application certificate made on first start in `certificate_dir` (asyncua's cert_gen) and kept
for later starts. Identity: user name / password from `users_file` (`name:password` a line,
`#` comments); anonymous sessions only with allow_anonymous.
"""
import hmac
from pathlib import Path
import socket
from typing import Dict

from asyncua import Server, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.permission_rules import User, UserRole
from cryptography.x509.oid import ExtendedKeyUsageOID

APPLICATION_URI = 'urn:acnn_ros:vision_system'
POLICIES = {'none': ua.SecurityPolicyType.NoSecurity,
            'sign': ua.SecurityPolicyType.Basic256Sha256_Sign,
            'sign_encrypt': ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt}


def read_users(path: str) -> Dict[str, str]:
    """Return {user name: password} from a users file; ValueError on a malformed line."""
    users = {}
    for number, line in enumerate(Path(path).expanduser().read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        name, separator, password = line.partition(':')
        if not separator or not name or not password:
            raise ValueError(f'{path}:{number}: expected name:password')
        users[name.strip()] = password
    return users


class PasswordFileUsers:
    """asyncua user manager: the users of a file, anonymous only if allowed."""

    def __init__(self, users: Dict[str, str], allow_anonymous: bool):
        self.users = users
        self.allow_anonymous = allow_anonymous

    def get_user(self, iserver, username=None, password=None, certificate=None):
        """Return the user for these credentials, or None (the session is refused)."""
        if username is None:
            return User(role=UserRole.User, name='anonymous') if self.allow_anonymous else None
        known = self.users.get(username)
        if known is None or not hmac.compare_digest(known.encode(), (password or '').encode()):
            return None
        return User(role=UserRole.User, name=username)


async def ensure_certificate(directory: str, host: str):
    """Return (certificate, key) paths in `directory`, made there on first start."""
    folder = Path(directory).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / 'vision_system_cert.der', folder / 'vision_system_key.pem'
    await setup_self_signed_certificate(
        key, cert, APPLICATION_URI, host if host not in ('0.0.0.0', '') else socket.gethostname(),
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        {'commonName': 'acnn_ros vision system', 'organizationName': 'acnn_ros'})
    return cert, key


async def apply_security(server: Server, config) -> None:
    """Set endpoints, certificate and identity tokens of `server` from the config."""
    server.set_security_policy([POLICIES[config.security_mode]])
    users = read_users(config.users_file) if config.users_file else {}
    server.iserver.user_manager = PasswordFileUsers(users, config.allow_anonymous)
    tokens = [ua.UserNameIdentityToken] + \
        ([ua.AnonymousIdentityToken] if config.allow_anonymous else [])
    server.set_identity_tokens(tokens)
    if config.security_mode != 'none':
        await server.set_application_uri(APPLICATION_URI)
        cert, key = await ensure_certificate(config.certificate_dir, config.server_host)
        await server.load_certificate(str(cert))
        await server.load_private_key(str(key))
