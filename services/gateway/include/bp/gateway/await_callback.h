// Bridges callback APIs (gRPC callbacks, nats.c acks) into coroutines: the callback may run on
// any thread; the awaiting coroutine always resumes on its own executor.
#pragma once

#include <functional>
#include <memory>

#include "bp/asio.h"

namespace bp::gateway {

template <class T>
using Completion = std::function<void(T)>;

// start(done) begins the operation; done(value) completes the co_await with value, exactly once.
template <class T, class Start>
boost::asio::awaitable<T> await_callback(Start start) {
  namespace asio = boost::asio;
  return asio::async_initiate<decltype(asio::use_awaitable), void(T)>(
      [start = std::move(start)](auto handler) mutable {
        auto executor = asio::get_associated_executor(handler);
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        start(Completion<T>([shared, executor](T value) {
          asio::post(executor, [shared, value = std::move(value)]() mutable { (*shared)(std::move(value)); });
        }));
      },
      asio::use_awaitable);
}

}  // namespace bp::gateway
