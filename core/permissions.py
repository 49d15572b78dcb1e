"""The API's default permission: ``view_target`` (a logged-in user without a role reads nothing).

A module of its own, importing ``core.roles`` only when asked: DRF imports its default permission
classes while ``rest_framework.views`` loads, which ``core.roles`` itself imports (through
``core.exceptions``), so a default living in ``core.roles`` would be a circular import.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission


class ViewTarget(BasePermission):
    """``HasCapability.of("view_target")``: the default of every endpoint that says nothing."""

    def has_permission(self, request: Any, view: Any) -> bool:
        from core.roles import HasCapability

        return HasCapability().has_permission(request, view)
