# Segments and time triggers (issue 5).
tessera_test(condition_test
  SOURCES condition_test.cc
  LIBS tessera_activation)

tessera_test(segment_test
  SOURCES segment_test.cc
  LIBS tessera_activation tessera_profiles)

tessera_test(trigger_test
  SOURCES trigger_test.cc
  LIBS tessera_activation tessera_profiles)
