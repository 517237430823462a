"""`python -m services.api.accounts hash | token USER [--days N]`: what goes in the users
file (the secret itself is never stored)."""

from __future__ import annotations

import secrets
import sys
import time
from datetime import UTC, datetime

from services.api.accounts import hash_secret


def main(argv: list[str] | None = None) -> int:
    """`hash` (secret on stdin) or `token USER`: print what goes in the users file."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["hash"]:
        print(hash_secret(sys.stdin.readline().rstrip("\n")))
        return 0
    if args[:1] == ["token"] and len(args) in (2, 4) and (len(args) == 2 or args[2] == "--days"):
        secret = secrets.token_urlsafe(32)
        print(f"token (give to the user): {args[1]}:{secret}")
        if len(args) == 2:
            print(f'token_hash = "{hash_secret(secret)}"')
            return 0
        until = datetime.fromtimestamp(time.time() + 86400 * int(args[3]), UTC)
        print(f"[[api.users.{args[1]}.tokens]]   # rotation: add this, then drop the old token")
        print(f'hash = "{hash_secret(secret)}"')
        print(f"expires = {until.strftime('%Y-%m-%dT%H:%M:%SZ')}")
        return 0
    print("usage: python -m services.api.accounts hash | token USER [--days N]",
          file=sys.stderr)
    return 2



if __name__ == "__main__":
    raise SystemExit(main())
