"""A small raw-UDP SIP sender and listener for attack tests.

SIPp scripts follow a scenario; an attacker does not. This sends one INVITE
exactly as written (any request URI, any From, any header), answers a digest
challenge when given a password, ACKs the final answer and says what it was.
`SipListener` stands where a line's or a seat's UA would, and keeps every
datagram that reaches it: an attack test asserts it kept none.
"""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import re
import secrets
import socket
import time
from dataclasses import dataclass, field

_SDP = ("v=0\r\no=attacker 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
        "m=audio {rtp} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
_seq = itertools.count(1)


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


def parse_response(data: bytes) -> Response | None:
    """A SIP response's status line and headers; None for a request or junk."""
    text = data.decode("utf-8", errors="replace")
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    match = re.match(r"SIP/2\.0 (\d{3}) ?(.*)", head[0])
    if not match:
        return None
    headers = tuple((k.strip(), v.strip()) for k, _, v in
                    (line.partition(":") for line in head[1:] if ":" in line))
    return Response(int(match.group(1)), match.group(2), headers)


def parse_challenge(value: str) -> dict[str, str]:
    """`Digest realm="asterisk",nonce="…",qop="auth"` -> {realm, nonce, qop, …}."""
    _, _, params = value.partition(" ")
    return {k.lower(): v.strip('"') for k, v in
            re.findall(r'(\w+)=("[^"]*"|[^,]+)', params)}


def digest_authorization(challenge: dict[str, str], method: str, uri: str, user: str,
                         password: str, cnonce: str, nc: str = "00000001") -> str:
    """The Authorization header value answering an MD5 digest challenge (RFC 2617)."""
    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    realm, nonce = challenge["realm"], challenge["nonce"]
    ha1, ha2 = md5(f"{user}:{realm}:{password}"), md5(f"{method}:{uri}")
    qop = "auth" if "auth" in challenge.get("qop", "").split(",") else ""
    if qop:
        response = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
        extra = f',qop={qop},nc={nc},cnonce="{cnonce}"'
    else:
        response, extra = md5(f"{ha1}:{nonce}:{ha2}"), ""
    opaque = f',opaque="{challenge["opaque"]}"' if "opaque" in challenge else ""
    return (f'Digest username="{user}",realm="{realm}",nonce="{nonce}",uri="{uri}",'
            f'response="{response}",algorithm=MD5{opaque}{extra}')


@dataclass
class Invite:
    """One INVITE as an attacker writes it."""

    request_uri: str                 # e.g. sip:1001&PJSIP/line-119@127.0.0.11
    from_user: str
    headers: tuple[tuple[str, str], ...] = ()
    password: str | None = None      # answer a digest challenge as `from_user`


@dataclass
class Outcome:
    """What the attacker was answered: every response, the last one final."""

    responses: list[Response] = field(default_factory=list)

    @property
    def final(self) -> int | None:
        finals = [r.status for r in self.responses if r.status >= 200]
        return finals[-1] if finals else None


def _build(invite: Invite, local: tuple[str, int], call_id: str, tag: str, cseq: int,
           branch: str, authorization: str | None) -> bytes:
    ip, port = local
    body = _SDP.format(ip=ip, rtp=port + 2)
    lines = [
        f"INVITE {invite.request_uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {ip}:{port};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:{invite.from_user}@{ip}>;tag={tag}",
        f"To: <{invite.request_uri}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} INVITE",
        f"Contact: <sip:{invite.from_user}@{ip}:{port}>",
        *(f"{name}: {value}" for name, value in invite.headers),
        *([f"Authorization: {authorization}"] if authorization else []),
        "Content-Type: application/sdp",
        f"Content-Length: {len(body.encode())}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def _ack(invite: Invite, local: tuple[str, int], call_id: str, tag: str, cseq: int,
         branch: str, answer: Response) -> bytes:
    ip, port = local
    to = answer.header("To") or f"<{invite.request_uri}>"
    lines = [
        f"ACK {invite.request_uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {ip}:{port};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:{invite.from_user}@{ip}>;tag={tag}",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} ACK",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def send_invite(invite: Invite, target: tuple[str, int], local_ip: str,
                timeout_s: float = 5.0, local_port: int = 0) -> Outcome:
    """Send `invite` from `local_ip` (`local_port`, else a free one) and collect the answers until a
    final one, answering one digest challenge when `invite.password` is set.
    A call that is let in (2xx) is ACKed and hung up at once."""
    outcome = Outcome()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((local_ip, local_port))
        local = sock.getsockname()
        call_id, tag = f"{secrets.token_hex(8)}@{local_ip}", secrets.token_hex(4)
        cseq, authorization = 1, None
        deadline = time.monotonic() + timeout_s
        while True:
            branch = f"z9hG4bK{secrets.token_hex(6)}-{next(_seq)}"
            sock.sendto(_build(invite, local, call_id, tag, cseq, branch, authorization), target)
            answer = _final(sock, outcome, deadline)
            if answer is None:
                return outcome
            sock.sendto(_ack(invite, local, call_id, tag, cseq, branch, answer), target)
            if 200 <= answer.status < 300:
                _bye(sock, invite, local, call_id, tag, cseq + 1, answer, target)
                return outcome
            challenge = answer.header("WWW-Authenticate")
            if answer.status != 401 or not invite.password or not challenge or authorization:
                return outcome
            authorization = digest_authorization(
                parse_challenge(challenge), "INVITE", invite.request_uri, invite.from_user,
                invite.password, secrets.token_hex(8))
            cseq += 1


def _final(sock: socket.socket, outcome: Outcome, deadline: float) -> Response | None:
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data, _ = sock.recvfrom(65535)
        except TimeoutError:
            return None
        response = parse_response(data)
        if response is None:
            continue   # a request to us (e.g. a BYE): not what we wait for
        outcome.responses.append(response)
        if response.status >= 200:
            return response
    return None


def _bye(sock: socket.socket, invite: Invite, local: tuple[str, int], call_id: str, tag: str,
         cseq: int, answer: Response, target: tuple[str, int]) -> None:
    ip, port = local
    lines = [
        f"BYE {invite.request_uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {ip}:{port};branch=z9hG4bK{secrets.token_hex(6)};rport",
        "Max-Forwards: 70",
        f"From: <sip:{invite.from_user}@{ip}>;tag={tag}",
        f"To: {answer.header('To')}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} BYE",
        "Content-Length: 0",
    ]
    sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), target)


class SipListener:
    """A UA that never answers: it binds `ip:port` and keeps what arrives."""

    def __init__(self, ip: str, port: int = 5060):
        self.address = (ip, port)
        self.received: list[bytes] = []
        self._transport: asyncio.DatagramTransport | None = None

    async def __aenter__(self) -> SipListener:
        loop = asyncio.get_running_loop()
        received = self.received

        class _Keep(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr) -> None:
                received.append(data)

        self._transport, _ = await loop.create_datagram_endpoint(
            _Keep, local_addr=self.address, reuse_port=False)
        return self

    async def __aexit__(self, *exc) -> None:
        if self._transport is not None:
            self._transport.close()

    def requests(self) -> list[str]:
        """The first line of every datagram received (``INVITE sip:… SIP/2.0``)."""
        return [d.split(b"\r\n", 1)[0].decode(errors="replace") for d in self.received]
