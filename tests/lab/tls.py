# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's certificate authority and server certificates, generated at test time.

Nothing is stored in the repository: the first call makes a CA key and
certificate and the server certificates in a private temporary directory,
with the ``cryptography`` package. The kinds of certificate are the cases
the tls check must tell apart: valid, expired, expiring soon, for another
name, self-signed.

``write_ca_and_leaf`` makes a CA and one leaf for given names in a directory of
the caller's choosing, for a server that runs apart from the test process
(the Postfix lab): a server in another process cannot share ``lab_ca()``,
which is made anew in every process.
"""
from __future__ import annotations

import datetime
import atexit
import os
import shutil
import ssl
import tempfile
import threading
from typing import Optional

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KINDS = ("valid", "expired", "expiring", "wrong_name", "self_signed")
_PREFIX = "mxaudit-lab-tls-"


def _sweep_dead() -> None:
    """Remove the CA directories of lab processes that no longer run (named mxaudit-lab-tls-<pid>-...)."""
    top = tempfile.gettempdir()
    for entry in os.listdir(top):
        if not entry.startswith(_PREFIX):
            continue
        pid_text = entry[len(_PREFIX):].split("-", 1)[0]
        if not pid_text.isdigit():
            if os.path.isdir(os.path.join(top, entry)):
                shutil.rmtree(os.path.join(top, entry), True)  # an older layout without the pid
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(top, entry), True)
        except PermissionError:
            continue  # alive, someone else's


_DAY = datetime.timedelta(days=1)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca_certificate(key: ec.EllipticCurvePrivateKey, start: datetime.datetime, end: datetime.datetime) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(_name("mxaudit lab CA"))
        .issuer_name(_name("mxaudit lab CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def leaf_certificate(names: list[str], start: datetime.datetime, end: datetime.datetime, issuer: x509.Name,
                     issuer_key: ec.EllipticCurvePrivateKey,
                     key: Optional[ec.EllipticCurvePrivateKey] = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A server certificate (SAN dNSNames = ``names``, CN the first) signed by ``issuer_key``: (certificate, its key)."""
    key = key or _key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    return builder.sign(issuer_key, hashes.SHA256()), key


def _write(path: str, data: bytes, mode: int) -> None:
    tmp = path + ".tmp-mxaudit"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _usable(directory: str, names: list[str], renew: datetime.timedelta) -> bool:
    """The CA and leaf files in ``directory`` exist, the leaf names ``names``, is signed by that CA, and is valid past ``renew``."""
    try:
        with open(os.path.join(directory, "ca.pem"), "rb") as handle:
            ca = x509.load_pem_x509_certificate(handle.read())
        with open(os.path.join(directory, "cert.pem"), "rb") as handle:
            leaf = x509.load_pem_x509_certificate(handle.read())
        with open(os.path.join(directory, "key.pem"), "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(), None)
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        leaf.verify_directly_issued_by(ca)
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return False
    now = datetime.datetime.now(datetime.timezone.utc)
    same_key = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == \
        leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return same_key and san == list(names) and leaf.not_valid_before_utc <= now and leaf.not_valid_after_utc - now > renew \
        and ca.not_valid_after_utc >= leaf.not_valid_after_utc


def write_ca_and_leaf(directory: str, names: list[str], days: int = 90, renew_days: int = 30) -> tuple[str, str, str, bool]:
    """A CA and a leaf for ``names`` in ``directory``: (ca.pem, cert.pem, key.pem, whether they were made now).

    The files are kept while the leaf still names ``names``, chains to ca.pem and is valid for more than
    ``renew_days``; else a new CA and leaf replace them. The CA's private key is never written: nothing
    else is ever signed by it. key.pem is mode 0600 (a server reads it as root).
    """
    paths = tuple(os.path.join(directory, name) for name in ("ca.pem", "cert.pem", "key.pem"))
    if _usable(directory, names, datetime.timedelta(days=renew_days)):
        return paths[0], paths[1], paths[2], False
    os.makedirs(directory, mode=0o755, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = _key()
    ca = _ca_certificate(ca_key, now - _DAY, now + (days + 1) * _DAY)
    leaf, key = leaf_certificate(list(names), now - _DAY, now + days * _DAY, ca.subject, ca_key)
    _write(paths[2], key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()), 0o600)
    _write(paths[1], leaf.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(paths[0], ca.public_bytes(serialization.Encoding.PEM), 0o644)
    return paths[0], paths[1], paths[2], True


class LabCA:
    """A CA and its server certificates, in files under one temporary directory."""

    def __init__(self) -> None:
        _sweep_dead()
        self.directory = tempfile.mkdtemp(prefix="%s%d-" % (_PREFIX, os.getpid()))
        # atexit does not run in a process that ends with os._exit (ansible-test runs each test in a forked child):
        # the next LabCA sweeps the directories of processes that are gone.
        atexit.register(shutil.rmtree, self.directory, True)
        self._lock = threading.Lock()
        self._contexts: dict[tuple[str, str], ssl.SSLContext] = {}
        now = datetime.datetime.now(datetime.timezone.utc)
        self.key = _key()
        # Valid before every certificate it issues, the expired one too.
        self.certificate = _ca_certificate(self.key, now - 60 * _DAY, now + 60 * _DAY)
        self.ca_file = os.path.join(self.directory, "ca.pem")
        with open(self.ca_file, "wb") as handle:
            handle.write(self.certificate.public_bytes(serialization.Encoding.PEM))

    def issue(self, host: str, kind: str) -> tuple[str, str]:
        """Files (certificate chain, key) of a ``kind`` certificate for ``host``."""
        if kind not in KINDS:
            raise ValueError("unknown certificate kind %r" % kind)
        now = datetime.datetime.now(datetime.timezone.utc)
        key = _key()
        names = ["mail.elsewhere.lab.test"] if kind == "wrong_name" else [host]
        start, end = now - _DAY, now + 20 * _DAY
        if kind == "expired":
            start, end = now - 10 * _DAY, now - _DAY
        elif kind == "expiring":
            end = now + 5 * _DAY
        issuer_key, issuer = (key, _name(names[0])) if kind == "self_signed" else (self.key, self.certificate.subject)
        certificate, key = leaf_certificate(names, start, end, issuer, issuer_key, key)
        stem = os.path.join(self.directory, "%s-%s" % (host, kind))
        with open(stem + ".crt", "wb") as handle:
            handle.write(certificate.public_bytes(serialization.Encoding.PEM))
        with open(stem + ".key", "wb") as handle:
            handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        return stem + ".crt", stem + ".key"

    def server_context(self, host: str, kind: str = "valid") -> ssl.SSLContext:
        """A server context with a ``kind`` certificate for ``host`` (made once per pair)."""
        with self._lock:
            context = self._contexts.get((host, kind))
            if context is None:
                certfile, keyfile = self.issue(host, kind)
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(certfile, keyfile)
                os.remove(keyfile)  # loaded: no private key lies around on disk
                self._contexts[(host, kind)] = context
            return context


_LAB_CA: Optional[LabCA] = None
_LAB_CA_LOCK = threading.Lock()


def lab_ca() -> LabCA:
    """The lab's CA, made on first use (one per process)."""
    global _LAB_CA  # pylint: disable=global-statement
    with _LAB_CA_LOCK:
        if _LAB_CA is None:
            _LAB_CA = LabCA()
        return _LAB_CA
