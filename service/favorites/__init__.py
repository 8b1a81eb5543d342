"""The favorite edges, a data room below articles: queries.py owns the `favorites` collection
(flags, a user's favorites page, edge writes). The favorite/unfavorite routes answer with an
article, so they live in service/articles/favorite_router.py, and the counter in articles."""
