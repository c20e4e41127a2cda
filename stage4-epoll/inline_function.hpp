// inline_function.hpp: InlineFunction, a move-only callable that never allocates.
//
// Why: the event loop stores a callback per timer and a hook per loop; a
// connection re-arms its timeout timer on every request. std::function may heap-
// allocate when a lambda captures more than its small-buffer size, and whether it
// does is invisible at the call site. InlineFunction keeps the callable inside the
// object (Capacity bytes) and refuses to compile when a capture does not fit:
// capture a pointer or two (`[this]`, `[conn, id]`), not a std::string.
//
//   InlineFunction<void()> f = [this] { on_timeout(); };
//   f();                                    // calls the lambda
//
// Not thread-safe (a value type; one owner). Calling an empty InlineFunction is a
// bug (asserted in debug builds).
#pragma once

#include <cassert>
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace serverlab {

template <typename Signature, std::size_t Capacity = 4 * sizeof(void*)>
class InlineFunction;

template <typename R, typename... Args, std::size_t Capacity>
class InlineFunction<R(Args...), Capacity> {
 public:
  InlineFunction() noexcept = default;

  template <typename F>
    requires(!std::is_same_v<std::decay_t<F>, InlineFunction> &&
             std::is_invocable_r_v<R, std::decay_t<F>&, Args...>)
  InlineFunction(F&& f) {  // NOLINT(google-explicit-constructor): a lambda converts implicitly
    using Fn = std::decay_t<F>;
    static_assert(sizeof(Fn) <= Capacity, "capture too large: capture a pointer instead");
    static_assert(alignof(Fn) <= alignof(std::max_align_t), "over-aligned callable");
    static_assert(std::is_nothrow_move_constructible_v<Fn>, "callable must move without throwing");
    ::new (static_cast<void*>(storage_)) Fn(std::forward<F>(f));
    ops_ = &kOpsFor<Fn>;
  }

  InlineFunction(InlineFunction&& other) noexcept { take(other); }
  InlineFunction& operator=(InlineFunction&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  InlineFunction(const InlineFunction&) = delete;
  InlineFunction& operator=(const InlineFunction&) = delete;
  ~InlineFunction() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }

  R operator()(Args... args) {
    assert(ops_ != nullptr);
    return ops_->call(storage_, std::forward<Args>(args)...);
  }

  // Destroys the held callable (and whatever it captured); leaves this empty.
  void reset() noexcept {
    if (ops_ != nullptr) {
      ops_->destroy(storage_);
      ops_ = nullptr;
    }
  }

 private:
  struct Ops {
    R (*call)(void* self, Args&&... args);
    void (*move_to)(void* from, void* to) noexcept;  // move-constructs at `to`, destroys `from`
    void (*destroy)(void* self) noexcept;
  };

  template <typename Fn>
  static Fn* as(void* p) noexcept {
    return std::launder(static_cast<Fn*>(p));
  }

  template <typename Fn>
  static constexpr Ops kOpsFor = {
      [](void* self, Args&&... args) -> R {
        return (*as<Fn>(self))(std::forward<Args>(args)...);
      },
      [](void* from, void* to) noexcept {
        ::new (to) Fn(std::move(*as<Fn>(from)));
        as<Fn>(from)->~Fn();
      },
      [](void* self) noexcept { as<Fn>(self)->~Fn(); },
  };

  void take(InlineFunction& other) noexcept {
    if (other.ops_ != nullptr) {
      other.ops_->move_to(other.storage_, storage_);
      ops_ = std::exchange(other.ops_, nullptr);
    }
  }

  alignas(std::max_align_t) unsigned char storage_[Capacity];
  const Ops* ops_ = nullptr;
};

}  // namespace serverlab
