# Prepares a freshly migrated Redmine (default data loaded) the way a district's administrator would for
# the gateway, then prints what the tests need as one JSON line. Run once by tests/support/redmine.py with
# `rails runner`; the resulting database is cached and copied for each test session.
require "json"
require "securerandom"

Setting.rest_api_enabled = "1"
Setting.default_language = "en"

support = Tracker.find_by!(name: "Support")
bug = Tracker.find_by!(name: "Bug")

def user(login, first, last, admin: false)
  u = User.new(firstname: first, lastname: last, mail: "#{login}@redmine.example.org", language: "en")
  u.login = login
  u.admin = admin
  u.password = u.password_confirmation = SecureRandom.hex(16)
  u.status = User::STATUS_ACTIVE
  u.save!
  Token.create!(user: u, action: "api").value
end

# The gateway's own account. Its role may see private notes here only so that the tests prove the gateway
# leaves them out itself; the README advises districts not to grant it.
gateway_role = Role.create!(
  name: "Intake Gateway", assignable: false, issues_visibility: "all",
  permissions: %i[view_issues add_issues edit_issues add_issue_notes set_notes_private view_private_notes manage_subtasks]
)
staff_role = Role.find_by!(name: "Manager")
# Redmine ignores a status change its workflow does not allow the role: the gateway may make the ones a
# Manager may (incident updates set statuses).
WorkflowRule.copy(nil, staff_role, Tracker.all.to_a, gateway_role)

request_field = IssueCustomField.create!(
  name: "Intake request", field_format: "string", is_filter: true, is_for_all: true, visible: true,
  searchable: false, trackers: Tracker.all
)
requester_field = IssueCustomField.create!(
  name: "Requester", field_format: "string", is_for_all: true, visible: true, trackers: Tracker.all
)
school_field = IssueCustomField.create!(
  name: "School", field_format: "string", is_for_all: true, visible: true, trackers: Tracker.all
)

projects = [["helpdesk", "District Help Desk"], ["transport", "Transportation"]].map do |identifier, name|
  p = Project.new(name: name, identifier: identifier, is_public: false)
  p.enabled_module_names = %w[issue_tracking]
  p.trackers = [support, bug]
  p.save!
  p
end

api_key = user("intake", "Intake", "Gateway")
staff_key = user("maria", "María", "López")
gateway = User.find_by_login("intake")
staff = User.find_by_login("maria")
projects.each do |p|
  Member.create!(project: p, principal: gateway, roles: [gateway_role])
  Member.create!(project: p, principal: staff, roles: [staff_role])
end
admin_key = Token.create!(user: User.find_by_login("admin"), action: "api").value

puts JSON.generate(
  api_key: api_key, staff_key: staff_key, admin_key: admin_key,
  request_field: request_field.id, requester_field: requester_field.id, school_field: school_field.id,
  projects: projects.map(&:identifier), gateway_user: gateway.id, staff_user: staff.id
)
