"""Interop of src/crypto/ with an independent implementation (PyNaCl).

A web tier in another language derives nothing but seals tokens to the
workers' public key, and operators may need to check a stored token by hand;
both only work if the C side follows PROTOCOL.md ("Secrets in jobs") byte for
byte.  This test derives the keys independently (hashlib's keyed BLAKE2b,
SHA-512 and X25519 as crypto_box_seed_keypair does, cross-checked with
PyNaCl's PrivateKey.from_seed), then drives the C side through the
test/tools/sealtool helper in both directions:

- PyNaCl seals, C unseals; C seals, PyNaCl unseals;
- C encrypts at rest, PyNaCl decrypts with AD "W:I"; and the reverse;
- the key file rules, seen from the command line.

Needs PyNaCl (Debian: apt-get install python3-nacl python3-pytest).  The build
directory comes from SLATE_BUILD_DIR (default /work/main/build); the helper
is looked for there, or named by SLATE_SEALTOOL.
"""

import base64
import hashlib
import os
import stat
import subprocess

import pytest

try:
    import nacl.bindings as nb
    from nacl.exceptions import CryptoError
    from nacl.public import PrivateKey, PublicKey, SealedBox
except ImportError as e:  # a missing dependency must fail, not skip
    raise ImportError(
        "PyNaCl is required for the crypto interop test "
        "(apt-get install python3-nacl, and run pytest with /usr/bin/python3)"
    ) from e

BUILD_DIR = os.environ.get("SLATE_BUILD_DIR", "/work/main/build")

SEAL_CONTEXT = b"slate-worker seal v1"
AT_REST_CONTEXT = b"slate-worker at-rest v1"

# The vectors hard-coded in test/unit/test_crypto.c.
VEC_SECRET = bytes(range(32))
VEC_PK_B64 = "lGMdmuH/nvTVzb120yZITPI7fZESHk/Ll0RE+fP9918="
VEC_AT_REST_HEX = "3b9a63775ffb95e27c073d13cad1c3634569e5b8e7fd9ef34edf67d683156233"
DEV_PK_B64 = "4DZtO8N2KwORe3PLUQ0UEUTf9skQiGElCMk5h6RYvkU="
DEV_AT_REST_HEX = "5f7c94ef0880e8d3ee79e394317cc84b9d9251c31ca46ecae52f58aed03c5864"

TOKENS = [
    b"hcloud-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV",
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZab",
    b"!",
    b"~" * 256,
    bytes(range(0x21, 0x7F)),
]


def sealtool():
    explicit = os.environ.get("SLATE_SEALTOOL")
    if explicit:
        return explicit
    for rel in ("sealtool", "test/sealtool", "test/tools/sealtool"):
        p = os.path.join(BUILD_DIR, rel)
        if os.access(p, os.X_OK):
            return p
    pytest.fail(f"sealtool not built in {BUILD_DIR} (test/tools/sealtool.c)")


def run(*args, stdin=b""):
    return subprocess.run(
        [sealtool(), *args], input=stdin, capture_output=True, timeout=30
    )


def ok(*args, stdin=b""):
    r = run(*args, stdin=stdin)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout


# --- the independent derivation -------------------------------------------


def derive(secret):
    """(public key, secret key, at-rest key) from a 32-byte secret."""
    seed = hashlib.blake2b(SEAL_CONTEXT, key=secret, digest_size=32).digest()
    sk = hashlib.sha512(seed).digest()[:32]  # what crypto_box_seed_keypair does
    pk = nb.crypto_scalarmult_base(sk)
    # PyNaCl's own seed path agrees.
    assert bytes(PrivateKey.from_seed(seed).public_key) == pk
    assert nb.crypto_box_seed_keypair(seed) == (pk, sk)
    at_rest = hashlib.blake2b(AT_REST_CONTEXT, key=secret, digest_size=32).digest()
    return pk, sk, at_rest


def write_key(path, content, mode=0o600):
    with open(path, "wb") as f:
        f.write(content)
    os.chmod(path, mode)
    return str(path)


@pytest.fixture
def vec_key(tmp_path):
    return write_key(tmp_path / "secret.key", VEC_SECRET.hex().encode() + b"\n")


SECRETS = [VEC_SECRET, bytes(32), bytes([0xFF] * 32), os.urandom(32)]


def test_vectors_match_the_unit_test():
    pk, _, at_rest = derive(VEC_SECRET)
    assert base64.b64encode(pk).decode() == VEC_PK_B64
    assert at_rest.hex() == VEC_AT_REST_HEX
    pk, _, at_rest = derive(bytes(32))
    assert base64.b64encode(pk).decode() == DEV_PK_B64
    assert at_rest.hex() == DEV_AT_REST_HEX


@pytest.mark.parametrize("secret", SECRETS, ids=["vec", "zero", "ff", "random"])
@pytest.mark.parametrize("form", ["lower", "upper", "lower-nl", "upper-nl"])
def test_public_key_matches(tmp_path, secret, form):
    text = secret.hex().upper() if form.startswith("upper") else secret.hex()
    if form.endswith("-nl"):
        text += "\n"
    path = write_key(tmp_path / "k", text.encode())
    pk, _, _ = derive(secret)
    assert ok("public-key", path).decode() == base64.b64encode(pk).decode()


def test_dev_key_is_the_zero_secret():
    pk, _, _ = derive(bytes(32))
    assert ok("public-key", "--dev").decode() == base64.b64encode(pk).decode()


# --- sealed tokens ----------------------------------------------------------


@pytest.mark.parametrize("token", TOKENS)
def test_pynacl_sealed_token_opens_in_c(vec_key, token):
    pk = base64.b64decode(ok("public-key", vec_key), validate=True)
    sealed = base64.b64encode(SealedBox(PublicKey(pk)).encrypt(token))
    assert ok("unseal", vec_key, stdin=sealed) == token


@pytest.mark.parametrize("token", TOKENS)
def test_c_sealed_token_opens_in_pynacl(token):
    pk, sk, _ = derive(VEC_SECRET)
    sealed = ok("seal", base64.b64encode(pk).decode(), stdin=token)
    blob = base64.b64decode(sealed, validate=True)
    assert len(blob) == len(token) + 48
    assert SealedBox(PrivateKey(sk)).decrypt(blob) == token
    # The low-level call PHP, Node or Go bindings would use.
    assert nb.crypto_box_seal_open(blob, pk, sk) == token


def test_sealed_for_another_key_is_refused(vec_key):
    other_pk, _, _ = derive(bytes(32))
    sealed = base64.b64encode(SealedBox(PublicKey(other_pk)).encrypt(TOKENS[0]))
    r = run("unseal", vec_key, stdin=sealed)
    assert r.returncode == 1
    assert r.stdout == b""
    assert b"does not open" in r.stderr
    assert ok("unseal", "--dev", stdin=sealed) == TOKENS[0]


def test_tampered_seal_is_refused(vec_key):
    pk, _, _ = derive(VEC_SECRET)
    blob = bytearray(SealedBox(PublicKey(pk)).encrypt(TOKENS[0]))
    blob[-1] ^= 1
    r = run("unseal", vec_key, stdin=base64.b64encode(bytes(blob)))
    assert r.returncode == 1 and r.stdout == b""


@pytest.mark.parametrize(
    "variant",
    [
        base64.urlsafe_b64encode,  # only standard base64 is accepted
        lambda b: base64.b64encode(b).rstrip(b"="),
        lambda b: base64.b64encode(b) + b"\n",
    ],
    ids=["urlsafe", "unpadded", "newline"],
)
def test_non_standard_base64_is_refused(vec_key, variant):
    pk, _, _ = derive(VEC_SECRET)
    # Retry until the encoding actually differs from the standard one.
    for _ in range(64):
        blob = SealedBox(PublicKey(pk)).encrypt(TOKENS[0])
        if variant(blob) != base64.b64encode(blob):
            break
    r = run("unseal", vec_key, stdin=variant(blob))
    assert r.returncode == 1
    assert b"not valid base64" in r.stderr


# --- tokens at rest ---------------------------------------------------------


def test_c_at_rest_opens_in_pynacl(vec_key):
    _, _, key = derive(VEC_SECRET)
    for token in TOKENS:
        stored = ok("encrypt", vec_key, "acme", "hz-prod", stdin=token)
        blob = base64.b64decode(stored, validate=True)
        assert len(blob) == 24 + len(token) + 16
        nonce, ct = blob[:24], blob[24:]
        plain = nb.crypto_aead_xchacha20poly1305_ietf_decrypt(ct, b"acme:hz-prod", nonce, key)
        assert plain == token
        for ad in (b"acme:hz-dev", b"other:hz-prod", b"acme/hz-prod", b"", None):
            with pytest.raises(CryptoError):
                nb.crypto_aead_xchacha20poly1305_ietf_decrypt(ct, ad, nonce, key)


def test_at_rest_nonces_are_fresh(vec_key):
    seen = {
        base64.b64decode(ok("encrypt", vec_key, "w", "i", stdin=b"tok"))[:24]
        for _ in range(8)
    }
    assert len(seen) == 8


def test_pynacl_at_rest_opens_in_c(vec_key):
    _, _, key = derive(VEC_SECRET)
    for token in TOKENS:
        nonce = os.urandom(24)
        ct = nb.crypto_aead_xchacha20poly1305_ietf_encrypt(token, b"acme:hz-prod", nonce, key)
        stored = base64.b64encode(nonce + ct)
        assert ok("decrypt", vec_key, "acme", "hz-prod", stdin=stored) == token
        r = run("decrypt", vec_key, "acme", "hz-dev", stdin=stored)
        assert r.returncode == 1 and r.stdout == b""
        assert b"does not open" in r.stderr
        r = run("decrypt", "--dev", "acme", "hz-prod", stdin=stored)
        assert r.returncode == 1 and r.stdout == b""


# --- the key file -----------------------------------------------------------


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o604, 0o660, 0o400 | 0o004, 0o610])
def test_key_file_with_group_or_other_permissions_is_refused(tmp_path, mode):
    hexkey = VEC_SECRET.hex().encode()
    path = write_key(tmp_path / "k", hexkey + b"\n", mode)
    r = run("public-key", path)
    assert r.returncode == 1
    assert r.stdout == b""
    err = r.stderr.decode()
    assert path in err and f"mode {mode:04o}" in err
    assert hexkey.decode() not in err and hexkey.decode()[:8] not in err


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_key_file_owner_only_is_accepted(tmp_path, mode):
    path = write_key(tmp_path / "k", VEC_SECRET.hex().encode(), mode)
    assert ok("public-key", path).decode() == VEC_PK_B64


@pytest.mark.parametrize(
    "content",
    [
        b"",
        VEC_SECRET.hex().encode()[:63],
        VEC_SECRET.hex().encode() + b"0",
        VEC_SECRET.hex().encode() + b"\n\n",
        VEC_SECRET.hex().encode() + b"\r\n",
        b" " + VEC_SECRET.hex().encode(),
        VEC_SECRET.hex().encode()[:62] + b"zz",
        base64.b64encode(VEC_SECRET) + b"\n",
    ],
    ids=["empty", "63", "65", "two-newlines", "crlf", "leading-space", "non-hex", "base64"],
)
def test_malformed_key_file_is_refused(tmp_path, content):
    path = write_key(tmp_path / "k", content)
    r = run("public-key", path)
    assert r.returncode == 1
    assert r.stdout == b""
    err = r.stderr.decode()
    assert path in err
    assert "64 hex characters" in err
    assert VEC_SECRET.hex()[:8] not in err.lower()


def test_missing_key_file_and_directory_are_refused(tmp_path):
    r = run("public-key", str(tmp_path / "absent"))
    assert r.returncode == 1 and b"cannot be opened" in r.stderr
    d = tmp_path / "dir"
    d.mkdir(mode=0o700)
    r = run("public-key", str(d))
    assert r.returncode == 1 and b"not a regular file" in r.stderr
    assert stat.S_ISDIR(os.stat(d).st_mode)
