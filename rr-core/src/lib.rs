//! Sans-I/O BGP route reflection engine: session FSM, RIB, best path, RFC 4456 reflection, update groups.
