"""A Celery task after the database went away reconnects instead of failing forever
(regression found by the chaos suite: pool processes kept a dead connection)."""

from __future__ import annotations

import pytest
from celery.signals import task_prerun
from django.db import Error, connection

from executions.models import Execution
from executions.tasks import advance


@pytest.mark.django_db(transaction=True)
def test_the_next_task_after_a_dropped_connection_gets_a_new_one() -> None:
    assert Execution.objects.count() == 0  # connected
    connection.connection.close()  # the server went away under this process
    with pytest.raises(Error):
        Execution.objects.count()
    task_prerun.send(sender=advance, task_id="t", task=advance, args=(), kwargs={})
    assert Execution.objects.count() == 0


def test_a_lost_broker_connection_leaves_running_tasks_alone() -> None:
    """RabbitMQ's consumer_timeout closes the channel of a task running past it: the task
    must go on (its lease is in the database), not be cancelled as Celery 6 would by default."""
    from orchestrator.celery import app

    assert app.conf.worker_cancel_long_running_tasks_on_connection_loss is False
