"""Pages of `core`."""

from django.urls import path

from core import account_views, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("dashboard/project", views.dashboard_project, name="dashboard-project"),
    path("dashboard/drift", views.dashboard_drift, name="dashboard-drift"),
    path("login", views.login_view, name="login"),
    path("logout", views.logout_view, name="logout"),
    path("audit", views.audit_log, name="audit"),
    path("users", views.users, name="users"),
    path("account", account_views.account, name="account"),
    path("tokens", account_views.tokens_page, name="tokens"),
]
