"""The requester API, /api/v1/ (DESIGN §10, docs/api.md): what the admin does,
for scripts, with the admin's model permissions and a token.

`base` (authentication, permissions, errors, pagination), `idempotency`
(`Idempotency-Key`), one module per resource (`runs`, `submissions`, `units`,
`results`, `qualifications`, `workers`), `schema` (OpenAPI), `urls`. Every write
goes through `tasks_app.services` or `qualifications_app.services`, as the admin
and the commands do.
"""
