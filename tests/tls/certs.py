"""Test certificates for the TLS and RELP tests, made with the openssl CLI (EC P-256: fast).

make_pki(dir) creates, in dir:
  ca.pem/ca.key            the CA gatelog trusts for clients (and that signs its server cert)
  server.pem/.key          CN=localhost, SAN DNS:localhost, IP:127.0.0.1 (signed by ca)
  server2.pem/.key         the same names, a new key (for the SIGHUP reload test)
  relay1.pem/.key          CN=relay1.test, SAN DNS:relay1.test (signed by ca): allowed
  intruder.pem/.key        CN=intruder.test (signed by ca): trusted but not on the allow-list
  rogue-ca.pem/.key        another CA
  rogue.pem/.key           CN=relay1.test signed by rogue-ca: the right name, untrusted
Returns a dict name -> (cert path, key path).
"""
import os
import subprocess


def _run(*args, cwd):
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl " + " ".join(args) + " failed:\n" + p.stderr.decode())


def _ca(d, name, cn):
    _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "3", "-subj", f"/CN={cn}",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def _leaf(d, name, cn, ca, san, usage):
    _run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    with open(os.path.join(d, f"{name}.ext"), "w") as f:
        f.write(f"subjectAltName={san}\nextendedKeyUsage={usage}\n"
                "basicConstraints=CA:FALSE\n")
    _run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
         "-CAcreateserial", "-out", f"{name}.pem", "-days", "3", "-extfile", f"{name}.ext",
         cwd=d)


def make_pki(d):
    os.makedirs(d, exist_ok=True)
    _ca(d, "ca", "gatelog test CA")
    _ca(d, "rogue-ca", "rogue CA")
    server_san = "DNS:localhost,IP:127.0.0.1"
    _leaf(d, "server", "localhost", "ca", server_san, "serverAuth")
    _leaf(d, "server2", "localhost", "ca", server_san, "serverAuth")
    _leaf(d, "relay1", "relay1.test", "ca", "DNS:relay1.test", "clientAuth")
    _leaf(d, "intruder", "intruder.test", "ca", "DNS:intruder.test", "clientAuth")
    _leaf(d, "rogue", "relay1.test", "rogue-ca", "DNS:relay1.test", "clientAuth")
    names = ["ca", "rogue-ca", "server", "server2", "relay1", "intruder", "rogue"]
    return {n: (os.path.join(d, f"{n}.pem"), os.path.join(d, f"{n}.key")) for n in names}


def fingerprint_sha256(cert):
    """Lowercase hex SHA-256 of the certificate's DER, as openssl prints it."""
    p = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-fingerprint", "-sha256"],
                       capture_output=True, timeout=30, check=True)
    return p.stdout.decode().strip().split("=", 1)[1].replace(":", "").lower()
