// batchpipe-control-plane: management API, schema, secrets and JetStream topology.
#include "bp/control_plane/app.h"

int main(int argc, char** argv) { return bp::control_plane::run(argc, argv); }
