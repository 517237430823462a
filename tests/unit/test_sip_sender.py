"""The attack tests' raw SIP sender: digest answers and response parsing."""
from __future__ import annotations

import hashlib

from tests.support.sip import digest_authorization, parse_challenge, parse_response


def test_parse_response_reads_status_and_headers():
    raw = (b"SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 127.0.3.9:5000\r\n"
           b'WWW-Authenticate: Digest realm="asterisk",nonce="abc",qop="auth"\r\n\r\n')
    response = parse_response(raw)
    assert response is not None and (response.status, response.reason) == (401, "Unauthorized")
    assert parse_challenge(response.header("www-authenticate")) == {
        "realm": "asterisk", "nonce": "abc", "qop": "auth"}
    assert parse_response(b"INVITE sip:x SIP/2.0\r\n\r\n") is None


def test_digest_answer_follows_rfc_2617_with_qop_auth():
    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()
    value = digest_authorization({"realm": "asterisk", "nonce": "n1", "qop": "auth"},
                                 "INVITE", "sip:1002@127.0.0.11", "1001", "pw", "c1")
    expected = md5(f"{md5('1001:asterisk:pw')}:n1:00000001:c1:auth:"
                   f"{md5('INVITE:sip:1002@127.0.0.11')}")
    assert f'response="{expected}"' in value and "qop=auth" in value
