"""Sessions, sign-in and lockout are tested through the staff pages' gateway: its fixtures (a moving clock, staff
accounts of each role, a started gateway) are shared with tests/gateway/web/staff/."""

from tests.gateway.web.staff.conftest import clock, staff, staff_config_path

__all__ = ["clock", "staff", "staff_config_path"]
