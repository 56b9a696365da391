"""The tables of messages: deliveries, and a workspace's settings for sending them (its
webhook endpoint, its email sender, its sending rules). Rows are plain records; the
rules live in `domain/`."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, Uuid, text
from sqlmodel import Field, SQLModel

from store.columns import UTCDateTime, table_of


class DeliveryRow(SQLModel, table=True):
    """A message a SEND node queued for a customer. One per enrollment (an entry into
    the journey) and node: a node applied twice never sends twice."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ux_deliveries_node", "enrollment_id", "node_key", unique=True),
        # The dispatcher's question: which queued deliveries may go out now?
        Index(
            "ix_deliveries_queued",
            "not_before",
            sqlite_where=text("state = 'QUEUED'"),
            postgresql_where=text("state = 'QUEUED'"),
        ),
        Index("ix_deliveries_journey_state", "journey_id", "state"),
        # The frequency cap's question: how many messages went to these customers
        # since a time, whatever their journey (docs/rules.md, "Messages").
        Index(
            "ix_deliveries_customer_sent",
            "customer_id",
            "handed_over_at",
            sqlite_where=text("handed_over_at IS NOT NULL"),
            postgresql_where=text("handed_over_at IS NOT NULL"),
        ),
        # The dispatcher's other question: which handed-over deliveries are due for
        # another attempt (a retry, or an attempt whose outcome was never recorded)?
        Index(
            "ix_deliveries_handed_over",
            "not_before",
            sqlite_where=text("state = 'HANDED_OVER'"),
            postgresql_where=text("state = 'HANDED_OVER'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    # The message's id as its channel shows it (the webhook's deliveryId). Not the row
    # id, which counts every workspace's messages: random, made by the INSERT that
    # writes the delivery (store.columns.random_id), the same on every attempt. No
    # unique index: 122 random bits or more collide with a chance of about 2^-63 in a
    # billion rows, while inserting random keys into an index would make writing a
    # delivery, the step processor's most frequent write, markedly dearer on both
    # databases (bench/flow.py, its line of one SEND).
    public_id: uuid.UUID = Field(sa_type=Uuid)
    journey_id: str = Field(foreign_key="journeys.id", max_length=36)
    enrollment_id: int = Field(foreign_key="enrollments.id")
    customer_id: str = Field(max_length=200)
    node_key: str = Field(max_length=40)  # the SEND node that queued it
    channel: str = Field(max_length=16)
    template: str = Field(max_length=200)
    state: str = Field(max_length=16)
    # QUEUED: not handed over before this (the recall window). HANDED_OVER: when
    # the next attempt is due (a retry), or when the attempt under way is taken
    # for lost if its outcome has not been recorded by then.
    not_before: datetime = Field(sa_type=UTCDateTime)
    attempts: int = 0
    # The last attempt's error; for a SKIPPED message, why it was not sent.
    last_error: str | None = Field(default=None, max_length=500)
    # When it was first handed to its channel (what a frequency cap counts); null
    # while QUEUED, and for a message cancelled or skipped before.
    handed_over_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class WebhookEndpointRow(SQLModel, table=True):
    """A workspace's webhook endpoint: where the `webhook` channel POSTs, and the
    secret it signs with (kept as given: signing needs it; never shown back)."""

    __tablename__ = "webhook_endpoints"

    workspace_id: str = Field(foreign_key="workspaces.id", primary_key=True, max_length=64)
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=200)
    configured_at: datetime = Field(sa_type=UTCDateTime)
    configured_by: str = Field(max_length=100)


class EmailSenderRow(SQLModel, table=True):
    """A workspace's SMTP server: where the `email` channel sends from (the password
    kept as given, since logging in needs it; never shown back)."""

    __tablename__ = "email_senders"

    workspace_id: str = Field(foreign_key="workspaces.id", primary_key=True, max_length=64)
    host: str = Field(max_length=253)
    port: int
    security: str = Field(max_length=16)  # NONE, STARTTLS or TLS
    username: str | None = Field(default=None, max_length=320)
    password: str | None = Field(default=None, max_length=500)
    from_address: str = Field(max_length=320)
    configured_at: datetime = Field(sa_type=UTCDateTime)
    configured_by: str = Field(max_length=100)


class SendingRulesRow(SQLModel, table=True):
    """A workspace's sending rules (docs/rules.md, "Messages"): quiet hours as local
    wall-clock times, a frequency cap per customer, and the time zone of customers
    without a valid `timezone` attribute. A null part is not set."""

    __tablename__ = "sending_rules"

    workspace_id: str = Field(foreign_key="workspaces.id", primary_key=True, max_length=64)
    quiet_start: str | None = Field(default=None, max_length=5)  # "21:00"
    quiet_end: str | None = Field(default=None, max_length=5)
    cap_messages: int | None = None
    cap_hours: int | None = None
    timezone: str | None = Field(default=None, max_length=64)
    configured_at: datetime = Field(sa_type=UTCDateTime)
    configured_by: str = Field(max_length=100)


# The Core tables, which the store's statements are written against.
DELIVERIES = table_of(DeliveryRow)
WEBHOOK_ENDPOINTS = table_of(WebhookEndpointRow)
EMAIL_SENDERS = table_of(EmailSenderRow)
SENDING_RULES = table_of(SendingRulesRow)
