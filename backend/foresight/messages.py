"""English templates of Foresight's codes (zh-CN in frontend/locale/zh_CN/LC_MESSAGES/foresight.po)."""

ERROR_MESSAGES: dict[str, str] = {
    "foresight.*": "The prediction could not be made.",
    "foresight.bad_trigger": "Unknown training trigger %(trigger)s.",
    "foresight.run_not_found": "Training run %(id)s was not found.",
    "foresight.model_not_found": "Model %(id)s was not found.",
    "foresight.train_failed": "Training failed: %(detail)s",
    "foresight.run_timed_out": "The training run stopped (its worker ended) and was given up.",
    "foresight.trained": "Model %(id)s (%(kind)s) trained on %(orders)s closed orders: AUC %(auc)s, "
                         "Brier %(brier)s; live: %(live)s.",
    "foresight.scored": "%(count)s open orders scored.",
}
