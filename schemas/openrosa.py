"""Wire contract of `POST /api/v1/teams/<team_id>/collect-devices` (openrosa.md "Enrolling")."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields

from schemas.accounts import bounded_text


class CollectDeviceRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    username = bounded_text(64, metadata={"description": "a field worker of this team"})
    label = bounded_text(100, metadata={"description": "how coordinators will recognise the tablet, e.g. Tablet 7"})


class CollectDeviceResponseSchema(Schema):
    device_id = fields.String(required=True)
    team_id = fields.String(required=True)
    server_url = fields.String(
        required=True, metadata={"description": "<base>/openrosa/v1/key/<token>: holds the secret, shown once"}
    )
    settings = fields.Dict(required=True, metadata={"description": "ODK Collect's settings object"})
    qr_png = fields.String(
        required=True, metadata={"description": "data:image/png;base64 QR of base64(zlib(JSON settings))"}
    )
