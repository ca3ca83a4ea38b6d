"""A Django app's suite through pytest-django: database marks, `client`, `settings`."""
import pytest

from polls.models import Question


@pytest.mark.django_db
def test_create():
    Question.objects.create(text="q", votes=3)
    assert Question.objects.count() == 1


@pytest.mark.django_db
def test_each_test_starts_with_an_empty_table():
    assert Question.objects.count() == 0


def test_database_access_without_the_mark_fails():
    Question.objects.count()


def test_client_sees_the_view(client, db):
    Question.objects.create(text="q")
    assert client.get("/").json() == {"count": 1}


def test_settings_fixture(settings):
    settings.DEBUG = True
    from django.conf import settings as live

    assert live.DEBUG is True


@pytest.mark.django_db
def test_failing_assertion_on_a_model():
    assert Question.objects.create(text="x", votes=1).was_popular()


@pytest.mark.parametrize("votes,popular", [(0, False), (9, False), (10, True)])
def test_popularity(votes, popular):
    assert Question(text="x", votes=votes).was_popular() is popular


class TestTransactions:
    @pytest.mark.django_db(transaction=True)
    def test_transactional(self):
        Question.objects.create(text="t")
        assert Question.objects.filter(text="t").exists()

    @pytest.mark.skip(reason="shows a skip in a Django suite")
    def test_skipped(self):
        pass
