"""A clock set a year and some hours ahead, for checking that a collection is stable.

A module whose collection calls the clock or a random source is collected a second time
in a process where the clock reads differently (random sources and `uuid4` already
differ between processes); only when both collections give the same ids is it cached.
Installed before pytest and the project import anything, so `from time import time` and
`from datetime import datetime` in project code see the shifted clock. Anything this
makes behave differently only makes the two collections differ: never cached, never
wrong.
"""
import datetime as _datetime_module
import time as _time_module

# 397 days, 13:37:21.123457: a different year, month, day, hour, minute, second and
# microsecond.
OFFSET_SECONDS = 397 * 86400 + 13 * 3600 + 37 * 60 + 21.123457
_OFFSET_NS = int(OFFSET_SECONDS * 1_000_000_000)

_real_time = _time_module.time
_real_time_ns = _time_module.time_ns
_real_localtime = _time_module.localtime
_real_gmtime = _time_module.gmtime
_real_ctime = _time_module.ctime
_real_asctime = _time_module.asctime
_real_strftime = _time_module.strftime
_real_date = _datetime_module.date
_real_datetime = _datetime_module.datetime


def _time():
    return _real_time() + OFFSET_SECONDS


def _time_ns():
    return _real_time_ns() + _OFFSET_NS


def _localtime(secs=None):
    return _real_localtime(_time() if secs is None else secs)


def _gmtime(secs=None):
    return _real_gmtime(_time() if secs is None else secs)


def _ctime(secs=None):
    return _real_ctime(_time() if secs is None else secs)


def _asctime(t=None):
    return _real_asctime(_localtime() if t is None else t)


def _strftime(format, t=None):
    return _real_strftime(format, _localtime() if t is None else t)


# Plain subclasses (no metaclass): freezegun and time-machine subclass `datetime.date`
# and `datetime.datetime` with metaclasses of their own.
class ShiftedDate(_real_date):
    @classmethod
    def today(cls):
        return cls.fromtimestamp(_time())


class ShiftedDatetime(_real_datetime):
    @classmethod
    def now(cls, tz=None):
        return cls.fromtimestamp(_time(), tz)

    @classmethod
    def utcnow(cls):
        # Not `utcfromtimestamp`: deprecated (a warning of its own) on 3.12+.
        return cls.fromtimestamp(_time(), _datetime_module.timezone.utc).replace(tzinfo=None)

    @classmethod
    def today(cls):
        return cls.fromtimestamp(_time())


ShiftedDate.__name__ = ShiftedDate.__qualname__ = "date"
ShiftedDatetime.__name__ = ShiftedDatetime.__qualname__ = "datetime"
ShiftedDate.__module__ = ShiftedDatetime.__module__ = "datetime"


def install():
    """Shifts the clock of this process (time and datetime) by `OFFSET_SECONDS`."""
    _time_module.time = _time
    _time_module.time_ns = _time_ns
    _time_module.localtime = _localtime
    _time_module.gmtime = _gmtime
    _time_module.ctime = _ctime
    _time_module.asctime = _asctime
    _time_module.strftime = _strftime
    _datetime_module.date = ShiftedDate
    _datetime_module.datetime = ShiftedDatetime
