from django.http import JsonResponse

from polls.models import Question


def index(request):
    return JsonResponse({"count": Question.objects.count()})
