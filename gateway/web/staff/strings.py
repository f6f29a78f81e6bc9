"""Every word of the staff pages (sign-in, the shell, users), by language. English is complete; another language
may give some keys and is read in English for the rest (gateway/web/i18n.py, `Words`).

Each area of the staff pages keeps its words in a dict of its own and is merged into STAFF_STRINGS here, one
line each, so the desk and the dashboard add theirs without touching anyone else's. Placeholders use str.format
names; a translation must use the same ones (tests/gateway/web/staff/test_staff_strings.py).
"""

from __future__ import annotations

from gateway.web.desk.words import DESK_EN

SHELL_EN: dict[str, str] = {
    "language_name": "English",
    "site_name": "District Help Desk",
    "staff_area": "Staff",
    "skip_to_content": "Skip to main content",
    "main_nav": "Main",
    "nav_home": "Home",
    "nav_desk": "Desk",
    "nav_dashboard": "Dashboard",
    "nav_reports": "Reports",
    "nav_users": "Users",
    "signed_in_as": "Signed in as {name}",
    "role_agent": "Agent",
    "role_supervisor": "Supervisor",
    "role_admin": "Administrator",
    "sign_out": "Sign out",
    "notices": "Notices",
    "time_format": "{month} {day}, {year} {hour12}:{minute} {ampm}",
    "date_format": "{month} {day}, {year}",
    "months": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
    "never": "never",
    "none": "none",
    # Sign-in
    "signin_title": "Sign in",
    "signin_intro": "Staff of the district sign in here to work requests.",
    "username_label": "Username",
    "password_label": "Password",
    "signin_button": "Sign in",
    "signin_wrong": "The username or password is not right. Check them and try again.",
    "signin_wrong_locked": "The username or password is not right, and there have been too many tries. "
    "Wait {minutes} minutes before you try again.",
    "signin_wrong_locked_one": "The username or password is not right, and there have been too many tries. "
    "Wait a minute before you try again.",
    "signin_locked": "There have been too many failed sign-ins. Wait {minutes} minutes before you try again.",
    "signin_locked_one": "There have been too many failed sign-ins. Wait a minute before you try again.",
    "signin_disabled": "This account is switched off. Ask an administrator to switch it on.",
    "signin_not_staff": "Your directory account is not in a group that may use the help desk. Ask an administrator.",
    "signin_unavailable": "The district's directory is not answering, so we cannot check your password now. "
    "Try again in a few minutes.",
    "signin_down": "Signing in is not possible right now. Try again in a few minutes.",
    "signin_expired": "The sign-in page was open for a long time. Sign in again.",
    "signin_forbidden": "For your security, we could not accept this sign-in. Open the sign-in page again.",
    "signin_cookies": "Signing in needs cookies switched on in your browser.",
    "signin_required": "Sign in to see that page.",
    "signed_out": "You are signed out.",
    "errors_title": "There is a problem",
    # Home
    "home_title": "Staff home",
    "home_role": "Your role: {role}.",
    "home_departments": "Your departments: {departments}.",
    "home_every_department": "You see every department.",
    "home_areas": "Where to go",
    "home_desk": "Work the requests of your departments.",
    "home_dashboard": "See the whole service, live.",
    "home_reports": "Graphs and reports over a range of dates.",
    "home_users": "Add staff, change roles, switch accounts on and off.",
    # Refusals
    "forbidden_title": "You cannot open this page",
    "forbidden_text": "Your role does not include this page. Ask an administrator if you need it.",
    "unavailable_title": "Not available right now",
    "csrf_title": "Please try again",
    "csrf_text": "For your security, this action was not done: the page was old or came from somewhere else. "
    "Reload the page and try again.",
    # Users
    "users_title": "Users",
    "users_intro": "Everyone who may sign in to the desk and the dashboard.",
    "users_caption": "Staff accounts",
    "col_username": "Username",
    "col_name": "Name",
    "col_role": "Role",
    "col_departments": "Departments",
    "col_source": "Signs in with",
    "col_state": "State",
    "col_last_signin": "Last sign-in",
    "col_actions": "Actions",
    "source_local": "Password here",
    "source_ldap": "District directory",
    "state_active": "Active",
    "state_disabled": "Switched off",
    "state_locked": "Locked until {until}",
    "add_user_title": "Add a user",
    "name_label": "Full name",
    "email_label": "Email address",
    "role_label": "Role",
    "departments_label": "Departments",
    "departments_hint": "Queues this person works, separated by commas, for example: it, transportation.",
    "new_password_label": "Password",
    "new_password_hint": "At least {length} characters. Leave it empty for someone who signs in with the "
    "district directory.",
    "add_user_button": "Add user",
    "change_role_label": "Role of {username}",
    "save_role_button": "Save role",
    "disable_button": "Switch off {username}",
    "enable_button": "Switch on {username}",
    "user_added": "{username} was added.",
    "user_role_changed": "{username} is now: {role}.",
    "user_disabled": "{username} is switched off and signed out everywhere.",
    "user_enabled": "{username} is switched on.",
    "err_username": "Give a username of letters, digits, dots, dashes or underscores.",
    "err_name": "Give the person's name.",
    "err_role": "Choose a role from the list.",
    "err_exists": "There is already a user with that username or email address.",
    "err_password": "The password is too short: use at least {length} characters.",
    "err_unknown_user": "There is no user {username}.",
    "err_last_admin": "This is the last active administrator: make someone else an administrator first.",
    "err_self": "You cannot switch off your own account.",
    "err_source": "{username} signs in with the district directory: change the password there.",
}

STAFF_STRINGS: dict[str, dict[str, str]] = {
    "en": {**SHELL_EN, **DESK_EN},
}
