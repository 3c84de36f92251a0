// batchpipe-gateway: the public HTTP API (ingest and management).
#include "bp/gateway/app.h"

int main(int argc, char** argv) { return bp::gateway::run(argc, argv); }
