// Include Asio/Beast through here: Boost 1.74's awaitable.hpp uses std::exchange without <utility>.
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
