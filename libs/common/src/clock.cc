// RFC 3339 timestamps with millisecond precision in UTC.
#include "bp/clock.h"

#include <cstring>

namespace bp::clock {

// Civil date from <chrono> and digits written by hand: the gateway stamps every request, and
// gmtime_r (which takes glibc's time zone lock) with snprintf cost more than the rest of it.
std::string rfc3339_millis(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto ms = floor<milliseconds>(t);
  auto day = floor<days>(ms);
  year_month_day ymd{day};
  hh_mm_ss hms{ms - day};
  char buf[32];
  char* p = buf;
  auto put = [&p](long value, int width) {
    for (int i = width - 1; i >= 0; --i) {
      p[i] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
    p += width;
  };
  int year = static_cast<int>(ymd.year());
  if (year < 0 || year > 9999) {  // beyond four digits: as printf writes them
    std::string text = std::to_string(year);
    std::memcpy(p, text.data(), text.size());
    p += text.size();
  } else {
    put(year, 4);
  }
  *p++ = '-';
  put(static_cast<unsigned>(ymd.month()), 2);
  *p++ = '-';
  put(static_cast<unsigned>(ymd.day()), 2);
  *p++ = 'T';
  put(hms.hours().count(), 2);
  *p++ = ':';
  put(hms.minutes().count(), 2);
  *p++ = ':';
  put(hms.seconds().count(), 2);
  *p++ = '.';
  put(hms.subseconds().count(), 3);
  *p++ = 'Z';
  return std::string(buf, p);
}

}  // namespace bp::clock
