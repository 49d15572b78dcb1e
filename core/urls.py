"""Pages of `core`."""

from django.urls import path

from core import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login", views.login_view, name="login"),
    path("logout", views.logout_view, name="logout"),
    path("audit", views.audit_log, name="audit"),
    path("users", views.users, name="users"),
]
