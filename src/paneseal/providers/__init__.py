"""Secret backends.  ``base`` holds the contract, ``registry`` finds providers by scheme."""
