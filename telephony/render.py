"""Render a site's Asterisk configuration from `dialplan/templates`.

The lab and the docker images call the same function, so both run the same
configuration.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

from telephony.settings import REPO_ROOT, Settings, Site
from telephony.sip_rules import IVR_CHOICE, TRUNK_HEADERS, digit_patterns, uri_source

TEMPLATES = REPO_ROOT / "dialplan" / "templates"


@dataclass(frozen=True)
class SiteDirs:
    """Asterisk's directories for one site, as Asterisk sees them."""

    etc: str
    run: str
    db: str
    spool: str
    log: str

    @classmethod
    def under(cls, base: str) -> SiteDirs:
        return cls(etc=f"{base}/etc", run=f"{base}/run", db=f"{base}/db",
                   spool=f"{base}/spool", log=f"{base}/log")

    def all(self) -> tuple[str, ...]:
        return (self.etc, self.run, self.db, self.spool, self.log)


def render_site(settings: Settings, site: Site, dirs: SiteDirs, run_user: str = "root") -> dict[str, str]:
    """File name -> content for every config file of `site`."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    context = {
        "site": site,
        "peers": [s for s in settings.sites if s.name != site.name],
        "lines": settings.lines,
        # each line's UA is identified by the address it is rung at
        "line_sources": {name: uri_source(uri) for name, uri in settings.lines.items()},
        "seat_patterns": {s.name: _seat_patterns(s) for s in settings.sites},
        "trunk_headers": TRUNK_HEADERS,
        "ivr_choice": IVR_CHOICE,
        "credentials": settings.credentials,
        "citizen_networks": settings.citizen_networks,
        "citizen_gateway": settings.citizen_gateway,
        "manager_networks": settings.manager_networks,
        "dirs": dirs,
        "run_user": run_user,
        "app_name": settings.app_name,
        "ring_timeout_s": settings.ring_timeout_s,
        "lab_mode": settings.lab_mode,
    }
    out = {}
    for template in sorted(TEMPLATES.glob("*.j2")):
        out[template.name.removesuffix(".j2")] = env.get_template(template.name).render(context)
    return out


def _seat_patterns(site: Site) -> list[str]:
    """Exact extension patterns for the site's seats (its configured range)."""
    if not site.seats:
        return []
    return digit_patterns(int(site.seats[0]), int(site.seats[-1]))


def write_site(files: dict[str, str], etc_dir: Path) -> None:
    etc_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (etc_dir / name).write_text(text)


def container_dirs() -> SiteDirs:
    """Asterisk's usual directories, as the docker image lays them out."""
    return SiteDirs(etc="/etc/asterisk", run="/var/run/asterisk", db="/var/lib/asterisk",
                    spool="/var/spool/asterisk", log="/var/log/asterisk")


def main(argv: list[str] | None = None) -> int:
    """`python3 -m telephony.render --site NAME --out DIR`: the docker entrypoint's renderer.

    Needs only Python 3.11+ and jinja2, so the Asterisk image does not carry the controller.
    """
    import argparse
    import sys

    from telephony.settings import SettingsError, load_settings

    parser = argparse.ArgumentParser(prog="python3 -m telephony.render")
    parser.add_argument("--site", required=True)
    parser.add_argument("--out", type=Path, default=Path("/etc/asterisk"))
    parser.add_argument("--run-user", default="asterisk")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        files = render_site(settings, settings.site(args.site), container_dirs(), args.run_user)
    except SettingsError as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 2
    write_site(files, args.out)
    print(f"rendered {len(files)} files for site {args.site} into {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
