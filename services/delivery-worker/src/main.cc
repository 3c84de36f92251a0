// batchpipe-delivery-worker: pulls records from JetStream and delivers them to sinks.
#include "bp/delivery_worker/app.h"

int main(int argc, char** argv) { return bp::delivery_worker::run(argc, argv); }
