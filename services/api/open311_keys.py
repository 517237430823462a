"""Open311 API keys: who may call /open311/v2, where their requests go, and the command
that makes a key. Keys are 256 random bits kept only as SHA-256 hashes, in the file named by
HOTLINE_OPEN311_KEYS_FILE (the lab's clear keys are refused outside the lab).

    python -m services.api.open311_keys key NAME --platform 12345 --region 410300
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import re
import secrets
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.api.accounts import LAB_ACCOUNTS

PLATFORMS = ("12345", "110")
_REGION = re.compile(r"[0-9]{6}([0-9]{3}([0-9]{3})?)?", re.ASCII)


class KeysError(ValueError):
    """The keys file is unreadable or breaks a rule."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    platform: str          # where posted requests become orders
    region_code: str       # the GB/T 2260 code they get


class Open311Keys:
    """API keys by the SHA-256 of the key: the file and memory hold no key."""

    def __init__(self, keys: Mapping[str, ApiKey]) -> None:
        self._by_hash = dict(keys)

    def __len__(self) -> int:
        return len(self._by_hash)

    def find(self, key: str | None) -> ApiKey | None:
        if not key or len(key) > 200:
            return None
        digest = hash_key(key)
        for stored, entry in self._by_hash.items():
            if hmac.compare_digest(stored, digest):
                return entry
        return None


def hash_key(key: str) -> str:
    # keys are 256 random bits, not passwords: a plain hash is enough to keep them unreadable
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def keys_from_mapping(table: Mapping[str, Any], *, lab: bool) -> Open311Keys:
    keys: dict[str, ApiKey] = {}
    for name, raw in table.items():
        platform, region = str(raw.get("platform", "")), str(raw.get("region_code", ""))
        if platform not in PLATFORMS or not _REGION.fullmatch(region):
            raise KeysError(f"open311.keys.{name}: platform must be 12345 or 110 and "
                            "region_code a GB/T 2260 code")
        if "key" in raw:
            if not lab:
                raise KeysError(f"open311.keys.{name}: clear keys are for the lab only; "
                                "store `hash`")
            stored = hash_key(str(raw["key"]))
        else:
            stored = str(raw.get("hash", ""))
            if not re.fullmatch(r"sha256:[0-9a-f]{64}", stored):
                raise KeysError(f"open311.keys.{name}: hash must be sha256:<64 hex>")
        keys[stored] = ApiKey(name, platform, region)
    return Open311Keys(keys)


def load_open311_keys(keys_file: str | None, *, lab_mode: bool,
                      lab_file: Path = LAB_ACCOUNTS) -> Open311Keys:
    """The lab's keys in lab mode; else those of `keys_file` (HOTLINE_OPEN311_KEYS_FILE, hashes
    only), or no key at all (every Open311 call is then refused). A lab key is refused outside the lab."""
    lab_table = _read(lab_file).get("open311", {}).get("keys", {})
    if lab_mode:
        return keys_from_mapping(lab_table, lab=True)
    if not keys_file:
        return Open311Keys({})
    keys = keys_from_mapping(_read(Path(keys_file)).get("open311", {}).get("keys", {}), lab=False)
    for name, raw in lab_table.items():
        if "key" in raw and keys.find(str(raw["key"])) is not None:
            raise KeysError(f"open311 key {name}: the lab key is refused outside lab mode")
    return keys


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise KeysError(f"{path}: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    """`key NAME --platform P --region R`: print a new key and its entry for the keys file."""
    parser = argparse.ArgumentParser(prog="python -m services.api.open311_keys")
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("key", help="make a new API key")
    new.add_argument("name")
    new.add_argument("--platform", choices=PLATFORMS, default="12345")
    new.add_argument("--region", required=True, help="GB/T 2260 code its requests get")
    args = parser.parse_args(argv)
    if not _REGION.fullmatch(args.region) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", args.name):
        parser.error("bad name or region code")
    key = secrets.token_urlsafe(32)
    print(f"api_key (give to the integrator): {key}", file=sys.stderr)
    print(f"[open311.keys.{args.name}]\nplatform = \"{args.platform}\"\n"
          f"region_code = \"{args.region}\"\nhash = \"{hash_key(key)}\"")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
