"""AWS SNS signer for the tests: an RSA key with a self-signed certificate (what a test serves at SigningCertURL), and
SNS messages signed as AWS documents it
(https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html): the string to sign is the
fields `Message, MessageId, Subject (when present), Timestamp, TopicArn, Type` of a Notification, or
`Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type` of a (Un)SubscriptionConfirmation, each as
`Name\\nvalue\\n`; SignatureVersion 1 is SHA1withRSA, 2 SHA256withRSA (PKCS#1 v1.5), base64. AWS publishes no
signing library (only SNS itself signs), so this follows the documentation, with `cryptography`.

stdin: {"op": "keypair"} -> {"key": PKCS#8 PEM, "cert": PEM}
       {"op": "sign", "key": PEM, "messages": [{...}]} -> {"messages": [{..., "Signature": base64}]}
"""
import base64
import datetime
import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

NOTIFICATION = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
CONFIRMATION = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]


def string_to_sign(m):
    fields = NOTIFICATION if m["Type"] == "Notification" else CONFIRMATION
    out = ""
    for f in fields:
        if f == "Subject" and m.get("Subject") is None:
            continue
        out += f"{f}\n{m[f]}\n"
    return out.encode()


def keypair():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.us-east-1.amazonaws.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc))
        .not_valid_after(datetime.datetime(2040, 1, 1, tzinfo=datetime.timezone.utc))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {"key": pem.decode(), "cert": cert.public_bytes(serialization.Encoding.PEM).decode()}


def sign(key_pem, m):
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    digest = hashes.SHA1() if str(m.get("SignatureVersion", "1")) == "1" else hashes.SHA256()
    sig = key.sign(string_to_sign(m), padding.PKCS1v15(), digest)
    return dict(m, Signature=base64.b64encode(sig).decode())


def main():
    req = json.load(sys.stdin)
    if req["op"] == "keypair":
        print(json.dumps(keypair()))
    else:
        print(json.dumps({"messages": [sign(req["key"], m) for m in req["messages"]]}))


main()
