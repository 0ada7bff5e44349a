"""Pages for people who use Gendan (not the designers): one router per area, combined here."""

from fastapi import APIRouter

from frontend.pages import (
    admin,
    admin_api_keys,
    admin_calendar,
    admin_people,
    api_docs,
    auth,
    connector_mapping,
    connectors,
    dashboard,
    designers,
    foresight,
    imports,
    inbox,
    logistics,
    notifications,
    ocr,
    order_edit,
    order_flow,
    order_form,
    order_live,
    orders,
    portal,
    portal_files,
    portal_login,
    portal_order,
    process_map,
    tracking,
)

router = APIRouter(include_in_schema=False)
router.include_router(auth.router)
router.include_router(ocr.router)  # /orders/new/from-contract before /orders/{order_id}
router.include_router(order_form.router)  # /orders/new before /orders/{order_id}
router.include_router(orders.router)
router.include_router(order_edit.router)
router.include_router(order_flow.router)
router.include_router(order_live.router)
router.include_router(dashboard.router)
router.include_router(designers.router)
router.include_router(admin.router)
router.include_router(admin_people.router)
router.include_router(admin_api_keys.router)
router.include_router(admin_calendar.router)
router.include_router(foresight.router)
router.include_router(imports.router)
router.include_router(connector_mapping.router)  # /connectors/mapping-editor before /connectors/{id}
router.include_router(connectors.router)
router.include_router(inbox.router)
router.include_router(notifications.router)
router.include_router(tracking.router)
router.include_router(portal.router)
router.include_router(portal_login.router)
router.include_router(portal_order.router)
router.include_router(portal_files.router)
router.include_router(logistics.router)
router.include_router(api_docs.router)
router.include_router(process_map.router)
