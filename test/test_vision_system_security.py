# SPDX-License-Identifier: Apache-2.0
"""
Security of the vision system server: loopback default, Basic256Sha256, users, anonymous.

Real asyncua servers on 127.0.0.1 and real asyncua clients: with security on, a client
without message security, an anonymous one and one with a wrong password cannot call a method;
the user of the users file can. The server certificate is made on first start and kept.
"""
import asyncio

from acnn_ros.core.vision_system import address_space
from acnn_ros.core.vision_system.config import VisionSystemConfig
from asyncua import ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from cryptography.x509.oid import ExtendedKeyUsageOID
import pytest
from vision_system_support import opcua_client, start_server

USERS = 'plc:correct horse battery\n# a comment line\nmes:staple\n'


def serve(tmp_path, **settings):
    users = tmp_path / 'users.txt'
    users.write_text(USERS)
    return start_server(users_file=str(users), certificate_dir=str(tmp_path / 'pki'),
                        **settings)


@pytest.fixture(scope='module')
def client_certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp('client_pki')
    cert, key = folder / 'client_cert.der', folder / 'client_key.pem'
    asyncio.run(setup_self_signed_certificate(
        key, cert, 'urn:acnn_ros:test_client', 'localhost',
        [ExtendedKeyUsageOID.CLIENT_AUTH], {'commonName': 'test client'}))
    return cert, key


async def _select_mode(endpoint, certificate=None, mode=None, user=None, password=None):
    """Connect as told and call SelectModeAutomatic; return its Error output."""
    client = opcua_client(endpoint)
    if certificate is not None:
        await client.set_security(SecurityPolicyBasic256Sha256, str(certificate[0]),
                                  str(certificate[1]), mode=mode)
    if user is not None:
        client.set_user(user)
        client.set_password(password)
    async with client:
        index = await client.get_namespace_index(address_space.NAMESPACE_URI)
        machine = client.get_node(ua.NodeId('VisionSystem.VisionStateMachine', index))
        return await machine.call_method(f'{index}:SelectModeAutomatic')


async def _policies(endpoint):
    client = opcua_client(endpoint)
    endpoints = await client.connect_and_get_server_endpoints()
    return sorted((e.SecurityPolicyUri.split('#')[-1], e.SecurityMode.name,
                   tuple(sorted(t.TokenType.name for t in e.UserIdentityTokens)))
                  for e in endpoints)


def test_default_is_loopback_without_security_and_anonymous(tmp_path):
    assert VisionSystemConfig().server_host == '127.0.0.1'
    assert VisionSystemConfig().endpoint.startswith('opc.tcp://127.0.0.1:')
    server = serve(tmp_path)
    try:
        assert asyncio.run(_policies(server.endpoint)) == [
            ('None', 'None_', ('Anonymous', 'UserName'))]
        assert asyncio.run(_select_mode(server.endpoint)) == 0
    finally:
        server.stop()
    assert not (tmp_path / 'pki').exists()         # no certificate without security


def test_sign_and_encrypt_refuses_anonymous_wrong_password_and_plain_clients(
        tmp_path, client_certificate):
    server = serve(tmp_path, security_mode='sign_encrypt', allow_anonymous=False)
    pki = tmp_path / 'pki'
    try:
        made = (pki / 'vision_system_cert.der').read_bytes()
        assert asyncio.run(_policies(server.endpoint)) == [
            ('Basic256Sha256', 'SignAndEncrypt', ('UserName',))]
        sign_encrypt = ua.MessageSecurityMode.SignAndEncrypt
        with pytest.raises(Exception):              # no endpoint without message security
            asyncio.run(_select_mode(server.endpoint, user='plc',
                                     password='correct horse battery'))
        with pytest.raises(ua.UaStatusCodeError):   # anonymous: no session
            asyncio.run(_select_mode(server.endpoint, client_certificate, sign_encrypt))
        with pytest.raises(ua.UaStatusCodeError):   # wrong password: no session
            asyncio.run(_select_mode(server.endpoint, client_certificate, sign_encrypt,
                                     user='plc', password='wrong'))
        with pytest.raises(ua.UaStatusCodeError):   # unknown user
            asyncio.run(_select_mode(server.endpoint, client_certificate, sign_encrypt,
                                     user='guest', password='correct horse battery'))
        assert server.machine.current.name == 'Preoperational'     # nothing was called
        assert asyncio.run(_select_mode(server.endpoint, client_certificate, sign_encrypt,
                                        user='plc', password='correct horse battery')) == 0
        assert server.machine.current.name == 'Initialized'
    finally:
        server.stop()
    again = serve(tmp_path, security_mode='sign', allow_anonymous=True)
    try:
        assert (pki / 'vision_system_cert.der').read_bytes() == made   # kept, not remade
        assert asyncio.run(_policies(again.endpoint)) == [
            ('Basic256Sha256', 'Sign', ('Anonymous', 'UserName'))]
        assert asyncio.run(_select_mode(again.endpoint, client_certificate,
                                        ua.MessageSecurityMode.Sign)) == 0
    finally:
        again.stop()


def test_security_without_anonymous_needs_a_users_file():
    with pytest.raises(ValueError, match='users_file'):
        VisionSystemConfig(security_mode='sign', allow_anonymous=False)
    with pytest.raises(ValueError, match='security_mode'):
        VisionSystemConfig(security_mode='basic128')
