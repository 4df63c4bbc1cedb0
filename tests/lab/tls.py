# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's certificate authority and server certificates, generated at test time.

Nothing is stored in the repository: the first call makes a CA key and
certificate and the server certificates in a private temporary directory,
with the ``cryptography`` package. The kinds of certificate are the cases
the tls check must tell apart: valid, expired, expiring soon, for another
name, self-signed.
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
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(_name("mxaudit lab CA"))
            .issuer_name(_name("mxaudit lab CA"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - 60 * _DAY)  # before every certificate it issues, the expired one too
            .not_valid_after(now + 60 * _DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
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
        certificate = builder.sign(issuer_key, hashes.SHA256())
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
