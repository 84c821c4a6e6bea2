"""Reviews and bad-review follow-ups in GraphQL (Annex 2 item 10, R-OPS-04, R-G-04, R-G-08;
SECURITY.md 9).

Who may see or change what is decided (and refusals audited) in `core.reviews.service`; the
resolvers pick the rows and read what they show in a fixed number of statements.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from api.errors import (
    InvalidInputError,
    NotAuthenticatedError,
    NotFoundError,
    PermissionDeniedError,
    to_graphql_error,
)
from api.identity import require_viewer
from api.lookup import int_id
from core.db import db
from core.errors import DomainError
from core.orders import service as orders
from core.orders.models import Order
from core.reviews import service
from core.reviews.models import FollowUp, FollowUpStatus, Review
from core.reviews.queries import ratings

FollowUpStatusEnum = strawberry.enum(FollowUpStatus, name="FollowUpStatus")


@strawberry.type(name="FollowUp", description="What an institution did about a bad review and "
                                              "whether the client was satisfied (R-OPS-04).")
class FollowUpType:
    id: strawberry.ID
    status: FollowUpStatusEnum  # type: ignore[valid-type]
    institution_id: strawberry.ID
    institution_name: str
    order_id: strawberry.ID
    order_title: str
    enterprise_name: str = strawberry.field(description="The client's enterprise.")
    stars: int
    review_comment: str | None
    opened_at: datetime
    days_open: int = strawberry.field(description="Calendar days (China) from opening to closing, "
                                                  "or to today while not closed.")
    response: str | None = strawberry.field(description="What the institution did.")
    responded_at: datetime | None
    verdict_comment: str | None
    closed_at: datetime | None = strawberry.field(description="When the client gave its verdict.")

    @classmethod
    def build(cls, row: service.FollowUpRow) -> FollowUpType:
        f = row.follow_up
        return cls(id=strawberry.ID(str(f.id)), status=f.status,
                   institution_id=strawberry.ID(str(f.institution_id)),
                   institution_name=row.institution.legal_name,
                   order_id=strawberry.ID(str(row.order.id)), order_title=row.order.title,
                   enterprise_name=row.enterprise_name, stars=f.review.stars,
                   review_comment=f.review.comment, opened_at=f.opened_at, days_open=row.days_open,
                   response=f.response, responded_at=f.responded_at,
                   verdict_comment=f.verdict_comment, closed_at=f.closed_at)


@strawberry.type(name="Review", description="The client's rating of a completed order.")
class ReviewType:
    id: strawberry.ID
    order_id: strawberry.ID
    institution_id: strawberry.ID
    stars: int
    comment: str | None
    at: datetime
    entered_by_operator: bool = strawberry.field(
        description="Entered by the operator who placed the order for the client (R-G-08).")
    follow_up: FollowUpType | None = strawberry.field(description="Opened by a 1-2 star review.")


@strawberry.type(name="PublicReview", description="A review as anyone sees it on the "
                                                  "institution's page.")
class PublicReviewType:
    stars: int
    comment: str | None
    at: datetime
    reviewer: str = strawberry.field(description="The client's enterprise name, masked.")


@strawberry.type
class FollowUpPage:
    total: int
    follow_ups: list[FollowUpType] = strawberry.field(description="Oldest first.")


@strawberry.type
class ReviewPage:
    total: int
    average: float | None = strawberry.field(description="Mean stars of every review.")
    reviews: list[PublicReviewType] = strawberry.field(description="Newest first.")


@strawberry.type
class ReviewSuccess:
    review: ReviewType


@strawberry.type
class FollowUpSuccess:
    follow_up: FollowUpType


@strawberry.input
class ReviewOrderInput:
    order_id: strawberry.ID
    stars: int = strawberry.field(description="1-5; 1-2 is a bad review and opens a follow-up.")
    comment: str | None = strawberry.field(default=None,
                                           description="Required with 1 or 2 stars.")


ReviewResult = Annotated[
    ReviewSuccess | InvalidInputError | PermissionDeniedError | NotFoundError
    | NotAuthenticatedError, strawberry.union("ReviewResult")]
FollowUpResult = Annotated[
    FollowUpSuccess | InvalidInputError | PermissionDeniedError | NotFoundError
    | NotAuthenticatedError, strawberry.union("FollowUpResult")]
FollowUpListResult = Annotated[
    FollowUpPage | InvalidInputError | PermissionDeniedError | NotFoundError
    | NotAuthenticatedError, strawberry.union("FollowUpListResult")]
ReviewPageResult = Annotated[ReviewPage | InvalidInputError | NotFoundError,
                             strawberry.union("ReviewPageResult")]


def reviews_of_orders(order_rows: list[Order]) -> dict[int, ReviewType]:
    """The review of each order in `order_rows` that has one, with its follow-up: a fixed
    number of statements whatever the number of orders (the `review` field of `Order`)."""
    if not order_rows:
        return {}
    found = list(db.session.scalars(
        select(Review).where(Review.order_id.in_({o.id for o in order_rows}))
        .options(selectinload(Review.follow_up))))
    follow_ups = {row.follow_up.id: FollowUpType.build(row)
                  for row in service.rows_for([r.follow_up for r in found if r.follow_up])}
    return {r.order_id: ReviewType(
        id=strawberry.ID(str(r.id)), order_id=strawberry.ID(str(r.order_id)),
        institution_id=strawberry.ID(str(r.institution_id)), stars=r.stars, comment=r.comment,
        at=r.at, entered_by_operator=r.entered_by_id is not None,
        follow_up=follow_ups.get(r.follow_up.id) if r.follow_up else None) for r in found}


def _follow_up_success(follow_up: FollowUp) -> FollowUpSuccess:
    db.session.expire_all()
    fresh = db.session.get(FollowUp, follow_up.id)
    assert fresh is not None
    return FollowUpSuccess(follow_up=FollowUpType.build(service.rows_for([fresh])[0]))


@strawberry.type
class ReviewQuery:
    @strawberry.field(description="Bad-review follow-ups the viewer may see, oldest first: every "
                                  "one for operators (R-OPS-04), its institution's for staff, its "
                                  "own for an enterprise user. `unresolvedOnly`: OPEN or RESPONDED.")
    def follow_ups(self, status: FollowUpStatusEnum | None = None,  # type: ignore[valid-type]
                   institution_id: strawberry.ID | None = None, unresolved_only: bool = False,
                   first: int = 20, offset: int = 0) -> FollowUpListResult:
        try:
            viewer = require_viewer()
            statuses = (frozenset({status}) if status is not None
                        else service.UNRESOLVED if unresolved_only else None)
            total, rows = service.follow_ups_for(
                viewer, statuses=statuses, first=first, offset=offset,
                institution_id=(int_id(institution_id, "institutionId")
                                if institution_id is not None else None))
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return FollowUpPage(total=total, follow_ups=[FollowUpType.build(r) for r in rows])

    @strawberry.field(description="One follow-up: the client, the institution's staff and "
                                  "operators.")
    def follow_up(self, id: strawberry.ID) -> FollowUpResult:
        try:
            found = service.get_follow_up(id, require_viewer())
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return FollowUpSuccess(follow_up=FollowUpType.build(service.rows_for([found])[0]))

    @strawberry.field(description="An institution's reviews as the public sees them, newest first.")
    def institution_reviews(self, institution_id: strawberry.ID, first: int = 20,
                            offset: int = 0) -> ReviewPageResult:
        try:
            iid = int_id(institution_id, "institutionId")
            total, rows = service.public_reviews(iid, first=first, offset=offset)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return ReviewPage(total=total, average=ratings([iid])[iid].average, reviews=[
            PublicReviewType(stars=r.stars, comment=r.comment, at=r.at, reviewer=r.reviewer)
            for r in rows])


@strawberry.type
class ReviewMutation:
    @strawberry.mutation(description="The client rates a completed order once, 1-5 stars (or the "
                                     "operator who placed it for the client, R-G-08); 1-2 stars "
                                     "opens a follow-up for the institution.")
    def review_order(self, input: ReviewOrderInput) -> ReviewResult:
        try:
            viewer = require_viewer()
            order = orders.get_order(input.order_id, viewer)
            service.review_order(order, input.stars, input.comment, viewer)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        db.session.expire_all()
        fresh = db.session.get(Order, order.id)
        assert fresh is not None
        return ReviewSuccess(review=reviews_of_orders([fresh])[fresh.id])

    @strawberry.mutation(description="The institution's admin or agent says what it did about the "
                                     "bad review (again, to update it, until the client judges).")
    def respond_to_follow_up(self, follow_up_id: strawberry.ID, response: str) -> FollowUpResult:
        try:
            viewer = require_viewer()
            follow_up = service.get_follow_up(follow_up_id, viewer)
            service.respond_to_follow_up(follow_up, response, viewer)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return _follow_up_success(follow_up)

    @strawberry.mutation(description="The client closes the follow-up once the institution has "
                                     "responded: satisfied or not (a comment is required when not; "
                                     "Annex 2 item 10 deducts unsatisfied follow-ups).")
    def judge_follow_up(self, follow_up_id: strawberry.ID, satisfied: bool,
                        comment: str | None = None) -> FollowUpResult:
        try:
            viewer = require_viewer()
            follow_up = service.get_follow_up(follow_up_id, viewer)
            service.judge_follow_up(follow_up, satisfied, comment, viewer)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return _follow_up_success(follow_up)
