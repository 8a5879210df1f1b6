"""Tests of the float reference interpreter (qcomp/ref): every kernel against an independent naive
implementation, plus input checking, the on_value stream and freeing of dead values."""
