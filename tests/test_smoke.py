from tests.factories import create_article, register


async def test_a_registered_user_can_publish_and_list_an_article(client):
    jake = await register(client)
    article = await create_article(client, jake, tagList=["b", "a"])
    response = await client.get("/api/articles")
    assert response.status_code == 200
    assert response.json()["articles"][0]["slug"] == article["slug"]
    assert article["tagList"] == ["a", "b"]
