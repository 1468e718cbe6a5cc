"""The directional check for 1e5-1e7 parameters: a few random directions, then group testing.

* ``_line``: derivatives of the loss along one direction, each with an error bar and a kink verdict;
* ``_entries``: the entries checked one by one (suspects, samples), judged by the one judge;
* ``_engine``: the directions, the group tests that localise a disagreement, and the result.

Imports go one way, down that list.
"""
