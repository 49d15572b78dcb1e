"""Pages of one's own account: /account (change my password) and /tokens (my API tokens).

A new token's key is shown once, in the response to the form that created it (never stored,
never in a redirect or a flash message); that response is ``no-store``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from core import actions, audit, tokens
from core.exceptions import AppError
from core.roles import no_role_needed


@no_role_needed
@never_cache
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    """Change my password (current + new twice, Django's validators); my last login."""
    user: Any = request.user
    context: dict[str, Any] = {"has_password": user.has_usable_password(),
                               "token_count": tokens.live_tokens(user).count()}
    status = 200
    if request.method == "POST":
        try:
            actions.do_change_own_password(request, request.POST.get("current", ""), request.POST.get("new", ""),
                                           request.POST.get("confirm", ""))
        except AppError as exc:
            context["error"], status = exc, exc.status
        else:
            messages.success(request, "Your password is changed. Your API tokens were revoked; "
                                      "other sessions are logged out.")
            return redirect("account")
    return render(request, "core/account.html", context, status=status)


@no_role_needed
@never_cache
@require_http_methods(["GET", "POST"])
def tokens_page(request: HttpRequest) -> HttpResponse:
    """List my live tokens; create one (its key shown once); revoke one."""
    context: dict[str, Any] = {}
    status = 200
    if request.method == "POST":
        try:
            if request.POST.get("op") == "revoke":
                token_id = request.POST.get("id", "")
                if not token_id.isdigit():
                    raise AppError("Pick a token to revoke.", code="bad_request", status=400, hint="Use its Revoke button.")
                revoked = actions.do_revoke_token(request, int(token_id))
                messages.success(request, f"Token {revoked.name or tokens.PREFIX + revoked.prefix} revoked.")
                return redirect("tokens")
            name = request.POST.get("name", "").strip()
            if not name or len(name) > 100:
                raise AppError("Give the token a name of 1 to 100 characters.", code="bad_request", status=400,
                               hint="e.g. the CI job that will use it.")
            token, key = tokens.issue(request.user, name)
            audit.record(request, "token.issue", f"{token.name} ({tokens.PREFIX}{token.prefix}…)",
                         after={"id": token.pk, "expires_at": token.expires_at.isoformat()})
            context["new_token"], context["new_key"] = token, key
        except AppError as exc:
            context["error"], status = exc, exc.status
    context["tokens"] = list(tokens.live_tokens(request.user))
    return render(request, "core/tokens.html", context, status=status)
