# The package's promise, checked by the consumers that find vpci with the hosted component optional:
# vpci::vpci is defined exactly when vpci_hosted_FOUND says it can be used.
if(vpci_hosted_FOUND AND NOT TARGET vpci::vpci)
  message(FATAL_ERROR "vpci_hosted_FOUND is true but vpci::vpci is not defined")
elseif(NOT vpci_hosted_FOUND AND TARGET vpci::vpci)
  message(FATAL_ERROR "vpci::vpci is defined although vpci_hosted_FOUND is false")
endif()
