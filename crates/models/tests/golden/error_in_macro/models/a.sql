select {{ fine() }} as one,
  {{ broken('2') }} as two
