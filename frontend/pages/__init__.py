"""Pages for people who use Gendan (not the designers): one router per area, combined here."""

from fastapi import APIRouter

from frontend.pages import auth, orders

router = APIRouter(include_in_schema=False)
router.include_router(auth.router)
router.include_router(orders.router)
