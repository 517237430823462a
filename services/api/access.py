"""Who may see and do what: small named checks the endpoints call."""
from __future__ import annotations

from typing import Any

from services.api.accounts import User
from services.api.core import Ctx
from services.api.errors import (
    Conflict,
    Forbidden,
)
from services.privacy import mask_number
from services.work_orders.ids import platform_of


# ---- who may see and do what ----------------------------------------------------------------
def actor(user: User) -> str:
    return f"api:{user.name}"


def masked(number: str | None) -> str | None:
    """`number` masked; a number the service masked already is left as it is."""
    if not number or "*" in number:
        return number
    return mask_number(number)


def on_call(user: User, call: dict[str, Any] | None) -> bool:
    """The user is the agent answering this call."""
    return (call is not None and user.is_agent and user.seat is not None
            and call.get("seat") == user.seat and call.get("site") == user.site)


def may_see_call(user: User, call: dict[str, Any]) -> bool:
    if not user.covers_site(call.get("site")):
        return False
    return not user.is_agent or call.get("platform") == user.platform


def call_view(user: User, call: dict[str, Any]) -> dict[str, Any]:
    view = dict(call)
    if user.role != "supervisor" and not on_call(user, call):
        view["citizen_number"] = masked(call.get("citizen_number"))
    return view


def check_may_act(user: User, call: dict[str, Any]) -> None:
    """Only someone working at the call's own site acts on it; an agent only on their call."""
    if user.site is None or user.site != call.get("site"):
        raise Forbidden("this call belongs to another site", error_id="other_site",
                        call_site=call.get("site"), your_site=user.site)
    if user.is_agent:
        if call.get("platform") != user.platform:
            raise Forbidden("this call belongs to the other platform", error_id="other_platform")
        if call.get("seat") is None:
            raise Conflict("nobody has answered this call yet", error_id="call_not_answered")
        if call.get("seat") != user.seat:
            raise Forbidden("this call is answered at another seat", error_id="not_your_call")


def check_may_manage_seat(user: User, site: str, seat: str) -> None:
    if user.is_agent and (user.site != site or user.seat != seat):
        raise Forbidden("an agent pauses and resumes only their own seat", error_id="not_your_seat")
    if not user.covers_site(site):
        raise Forbidden("this seat belongs to another site", error_id="other_site")


def site_platform(ctx: Ctx) -> str | None:
    """The platform whose orders a site-bound supervisor sees (their site's); None: all."""
    user = ctx.user
    if user.role != "supervisor" or user.site is None:
        return None
    return ctx.deps.site_platforms.get(user.site, user.site)


def check_may_write_order(user: User, order_id: str, ctx: Ctx | None = None) -> None:
    if user.is_agent and platform_of(order_id) != user.platform:
        raise Forbidden(f"a {user.platform} agent sees this order only through its link",
                        error_id="other_platform", order_id=order_id)
    own = site_platform(ctx) if ctx is not None else None
    if own is not None and platform_of(order_id) != own:
        raise Forbidden(f"a supervisor at site {user.site} sees only {own} orders",
                        error_id="other_site", order_id=order_id)
