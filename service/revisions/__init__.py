"""An article's kept revisions, a data room below articles: record, list and read them
(queries.py). The history and restore routes answer with an article, so they live in
service/articles/history_router.py."""
