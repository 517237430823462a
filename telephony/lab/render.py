"""Render a site's Asterisk configuration from `dialplan/templates`.

The lab and the docker images call the same function, so both run the same
configuration.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

from telephony.settings import REPO_ROOT, Settings, Site

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
        "credentials": settings.credentials,
        "citizen_networks": settings.citizen_networks,
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


def write_site(files: dict[str, str], etc_dir: Path) -> None:
    etc_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (etc_dir / name).write_text(text)
